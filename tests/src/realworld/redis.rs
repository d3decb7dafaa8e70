//! redis-server: started with its `redis.conf` as a positional argument
//! and a `--masterauth` on the command line, secrets in `requirepass` and
//! `masterauth`.

use super::{Service, Start, Started, launch, secrets, template};

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
    let dir = ctx.dir.to_str().ok_or("non-UTF-8 scratch path")?;
    let conf = launch::write(
        ctx.dir,
        "redis.conf",
        &template(
            CONF,
            &[
                ("DIR", dir),
                ("PORT", &port.to_string()),
                ("REQUIREPASS", &requirepass.value),
                ("MASTERAUTH", &masterauth.value),
            ],
        ),
    )?;
    let child = launch::spawn_in(
        ctx.cgroup,
        ctx.dir,
        &secrets::environment(&environment),
        &[
            "/usr/bin/redis-server",
            conf.to_str().ok_or("non-UTF-8 config path")?,
            "--masterauth",
            &argument.value,
        ],
    )?;
    launch::wait_until("redis accepts connections", ctx.dir, || {
        launch::accepts(port)
    })?;
    launch::wait_for_processes(ctx.cgroup, ctx.dir, 1)?;
    Ok(Started {
        children: vec![child],
        stderr: ctx.dir.join("stderr"),
        config_files: vec![conf],
        secrets: vec![requirepass, masterauth, argument, environment],
        processes: 1,
        helpers: Vec::new(),
    })
}
