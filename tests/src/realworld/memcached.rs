//! memcached: two worker threads on 127.0.0.1. It reads no configuration
//! file, so its tag also carries the files in formats no daemon here
//! reads (haproxy, nslcd, `.pgpass`, `.netrc`) through `config_files`.

use super::{Service, Start, Started, launch, secrets};

/// Measured 100% (41 named frames over 8 threads waiting under libevent's
/// `event_base_loop` or in `pthread_cond_wait`); 0.8 allows one thread
/// caught awake between gmr's capture and gdb's attach.
pub const SERVICE: Service = Service {
    name: "memcached",
    needs: &["/usr/bin/memcached"],
    match_floor: 0.8,
    complete_stacks: true,
    every_frame_named: false,
    start,
};

fn start(ctx: &Start) -> Result<Started, String> {
    let port = launch::free_port()?;
    let environment = ctx.environment_secret("memcached");
    let (files, mut planted) = secrets::foreign_files(ctx.dir, "memcached", ctx.nonce);
    let argv = [
        "/usr/bin/memcached",
        "-l",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "0",
        "-u",
        "nobody",
        "-t",
        "2",
        "-m",
        "16",
    ];
    let child = ctx.launch(
        &environment,
        &argv,
        "memcached accepts connections",
        || launch::accepts(port),
        1,
    )?;
    planted.push(environment);
    Ok(Started::one(ctx, child, files, planted, 1))
}
