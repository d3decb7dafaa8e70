//! PostgreSQL 15: a cluster made with `initdb` in the service's scratch
//! directory, run as user postgres with `-c config_file=PATH`; the secret
//! sits in `primary_conninfo`.

use std::process::Command;

use super::{Service, Start, Started, launch};

/// The server binaries of Debian's postgresql-15.
const BIN: &str = "/usr/lib/postgresql/15/bin";

/// Measured 88–100% per process (the postmaster and its 5 auxiliary
/// processes wait in `epoll_wait` under `WaitEventSetWait`); the misses are
/// gdb's `<signal handler called>` pseudo-frame, which names no function a
/// report could show, one per process caught inside a signal handler.
/// The floor, 0.7, also allows a thread caught awake between gmr's
/// capture and gdb's attach; a real regression (symbols or unwinding
/// lost) falls far below it.
pub const SERVICE: Service = Service {
    name: "postgres",
    needs: &[
        "/usr/lib/postgresql/15/bin/postgres",
        "/usr/lib/postgresql/15/bin/initdb",
    ],
    match_floor: 0.7,
    complete_stacks: true,
    every_frame_named: false,
    start,
};

const CONF: &str = include_str!("../../realworld/postgresql.conf");

/// The postmaster, checkpointer, background writer, walwriter,
/// autovacuum launcher and logical replication launcher.
const PROCESSES: usize = 6;

/// `setpriv` arguments that make the rest run as user postgres.
const AS_POSTGRES: [&str; 4] = [
    "setpriv",
    "--reuid=postgres",
    "--regid=postgres",
    "--init-groups",
];

fn start(ctx: &Start) -> Result<Started, String> {
    let port = launch::free_port()?;
    let conninfo = ctx.file_secret(
        "postgres",
        "postgresql.conf primary_conninfo",
        "postgresql.conf",
    );
    let environment = ctx.environment_secret("postgres");
    let dir = ctx.dir_text()?;
    let conf = ctx.write_config(
        "postgresql.conf",
        CONF,
        &[("PORT", &port.to_string()), ("CONNINFO", &conninfo.value)],
    )?;
    let chown = Command::new("chown")
        .args(["-R", "postgres:postgres", dir])
        .status()
        .map_err(|e| format!("chown: {e}"))?;
    if !chown.success() {
        return Err(format!("chown -R postgres {dir}: {chown}"));
    }
    let data = format!("{dir}/data");
    let initdb = Command::new(AS_POSTGRES[0])
        .args(&AS_POSTGRES[1..])
        .arg(format!("{BIN}/initdb"))
        .args([
            "--no-sync",
            "--no-instructions",
            "-A",
            "trust",
            "-U",
            "postgres",
            "-D",
            &data,
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .current_dir(ctx.dir)
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !initdb.status.success() {
        return Err(format!(
            "initdb -D {data}: {}\n{}",
            initdb.status,
            String::from_utf8_lossy(&initdb.stderr)
        ));
    }
    let postgres = format!("{BIN}/postgres");
    let config_file = format!("config_file={}", conf.display());
    let mut argv = AS_POSTGRES.to_vec();
    argv.extend([postgres.as_str(), "-c", &config_file]);
    let child = ctx.launch(
        &environment,
        &argv,
        "postgres accepts connections",
        || launch::accepts(port),
        PROCESSES,
    )?;
    Ok(Started::one(
        ctx,
        child,
        vec![conf],
        vec![conninfo, environment],
        PROCESSES,
    ))
}
