//! redis-server: started with its `redis.conf` as a positional argument
//! and a `--masterauth` on the command line, secrets in `requirepass` and
//! `masterauth`.

use super::{Service, Start, Started, launch, path_arg};

/// Measured 100% (30 named frames over 5 threads: the main thread in
/// `epoll_wait` under `aeMain`, the bio and jemalloc threads in
/// `pthread_cond_wait`); 0.8 allows a thread caught awake (serverCron
/// runs 10 times a second) between gmr's capture and gdb's attach.
pub const SERVICE: Service = Service {
    name: "redis",
    needs: &["/usr/bin/redis-server"],
    match_floor: 0.8,
    complete_stacks: true,
    every_frame_named: false,
    start,
};

const CONF: &str = include_str!("../../realworld/redis.conf");

fn start(ctx: &Start) -> Result<Started, String> {
    let port = launch::free_port()?;
    let requirepass = ctx.file_secret("redis", "redis.conf requirepass", "redis.conf");
    let masterauth = ctx.file_secret("redis", "redis.conf masterauth", "redis.conf");
    let argument = ctx.argument_secret("redis", "command line --masterauth", "--masterauth");
    let environment = ctx.environment_secret("redis");
    let conf = ctx.write_config(
        "redis.conf",
        CONF,
        &[
            ("PORT", &port.to_string()),
            ("REQUIREPASS", &requirepass.value),
            ("MASTERAUTH", &masterauth.value),
        ],
    )?;
    let argv = [
        "/usr/bin/redis-server",
        path_arg(&conf)?,
        "--masterauth",
        &argument.value,
    ];
    let child = ctx.launch(
        &environment,
        &argv,
        "redis accepts connections",
        || launch::accepts(port),
        1,
    )?;
    Ok(Started::one(
        ctx,
        child,
        vec![conf],
        vec![requirepass, masterauth, argument, environment],
        1,
    ))
}
