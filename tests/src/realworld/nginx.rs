//! nginx: a master and two workers, configured with `-c` in a scratch
//! prefix, with secrets in an `env` directive and a `proxy_set_header
//! Authorization` line.

use super::{Service, Start, Started, launch, path_arg, serves_corpus_app};

/// Measured 100% (3–5 named frames per process: `sigsuspend` or
/// `epoll_wait` under nginx's cycle functions, from its dynamic symbols);
/// 0.8 allows one frame that differs because a process woke between
/// gmr's capture and gdb's attach.
pub const SERVICE: Service = Service {
    name: "nginx",
    needs: &["/usr/sbin/nginx"],
    match_floor: 0.8,
    complete_stacks: true,
    every_frame_named: false,
    start,
};

const CONF: &str = include_str!("../../realworld/nginx.conf");

/// The master and its two workers.
const PROCESSES: usize = 3;

fn start(ctx: &Start) -> Result<Started, String> {
    let port = launch::free_port()?;
    let env_directive = ctx.file_secret("nginx", "nginx.conf env directive", "nginx.conf");
    let auth_header = ctx.file_secret("nginx", "nginx.conf Authorization header", "nginx.conf");
    let environment = ctx.environment_secret("nginx");
    let conf = ctx.write_config(
        "nginx.conf",
        CONF,
        &[
            ("PORT", &port.to_string()),
            ("ENV_DIRECTIVE", &env_directive.value),
            ("AUTH_HEADER", &auth_header.value),
        ],
    )?;
    let argv = [
        "/usr/sbin/nginx",
        "-e",
        "stderr",
        "-p",
        ctx.dir_text()?,
        "-c",
        path_arg(&conf)?,
    ];
    let child = ctx.launch(
        &environment,
        &argv,
        "nginx answers on its port",
        || serves_corpus_app(port),
        PROCESSES,
    )?;
    Ok(Started::one(
        ctx,
        child,
        vec![conf],
        vec![env_directive, auth_header, environment],
        PROCESSES,
    ))
}
