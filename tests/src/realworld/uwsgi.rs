//! uWSGI with the python3 plugin: a master and two workers of two
//! threads serving `app.py`, configured with `--ini`; the secret sits in
//! an `env =` line.

use super::{Service, Start, Started, launch, path_arg, serves_corpus_app};

/// Measured 86–100% per process; the misses are in the master's Python
/// thread (app.py's parked thread), where gmr shows Python frames in place
/// of the interpreter's `_PyEval_EvalFrameDefault` frames that gdb names.
/// The floor, 0.6, also allows a thread caught awake between gmr's
/// capture and gdb's attach; a real regression (symbols or unwinding
/// lost) falls far below it.
pub const SERVICE: Service = Service {
    name: "uwsgi",
    needs: &[
        "/usr/bin/uwsgi-core",
        "/usr/lib/uwsgi/plugins/python3_plugin.so",
    ],
    match_floor: 0.6,
    complete_stacks: true,
    every_frame_named: false,
    start,
};

const INI: &str = include_str!("../../realworld/uwsgi.ini");
const APP: &str = include_str!("../../realworld/app.py");

/// The master and its two workers.
const PROCESSES: usize = 3;

fn start(ctx: &Start) -> Result<Started, String> {
    let port = launch::free_port()?;
    let env_line = ctx.file_secret("uwsgi", "uwsgi.ini env line", "uwsgi.ini");
    let environment = ctx.environment_secret("uwsgi");
    launch::write(ctx.dir, "app.py", APP)?;
    let ini = ctx.write_config(
        "uwsgi.ini",
        INI,
        &[("PORT", &port.to_string()), ("ENV", &env_line.value)],
    )?;
    let child = ctx.launch(
        &environment,
        &["/usr/bin/uwsgi-core", "--ini", path_arg(&ini)?],
        "uWSGI serves the WSGI app",
        || serves_corpus_app(port),
        PROCESSES,
    )?;
    Ok(Started::one(
        ctx,
        child,
        vec![ini],
        vec![env_line, environment],
        PROCESSES,
    ))
}
