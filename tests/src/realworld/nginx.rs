//! nginx: a master and two workers, configured with `-c` in a scratch
//! prefix, with secrets in an `env` directive and a `proxy_set_header
//! Authorization` line.

use super::{Service, Start, Started, launch, secrets, template};

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

fn start(ctx: &Start) -> Result<Started, String> {
    let port = launch::free_port()?;
    let env_directive = ctx.file_secret("nginx", "nginx.conf env directive", "nginx.conf");
    let auth_header = ctx.file_secret("nginx", "nginx.conf Authorization header", "nginx.conf");
    let environment = ctx.environment_secret("nginx");
    let dir = ctx.dir.to_str().ok_or("non-UTF-8 scratch path")?;
    let conf = launch::write(
        ctx.dir,
        "nginx.conf",
        &template(
            CONF,
            &[
                ("DIR", dir),
                ("PORT", &port.to_string()),
                ("ENV_DIRECTIVE", &env_directive.value),
                ("AUTH_HEADER", &auth_header.value),
            ],
        ),
    )?;
    let conf_arg = conf.to_str().ok_or("non-UTF-8 config path")?;
    let child = launch::spawn_in(
        ctx.cgroup,
        ctx.dir,
        &secrets::environment(&environment),
        &["/usr/sbin/nginx", "-e", "stderr", "-p", dir, "-c", conf_arg],
    )?;
    launch::wait_until("nginx answers on its port", ctx.dir, || {
        launch::http_get(port, "/").is_ok_and(|r| r.contains("corpus ok"))
    })?;
    launch::wait_for_processes(ctx.cgroup, ctx.dir, 3)?;
    Ok(Started {
        children: vec![child],
        stderr: ctx.dir.join("stderr"),
        config_files: vec![conf],
        secrets: vec![env_directive, auth_header, environment],
        processes: 3,
        helpers: Vec::new(),
    })
}
