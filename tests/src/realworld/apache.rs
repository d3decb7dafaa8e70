//! apache2 (event MPM) with mod_wsgi serving `app.py` from a mod_wsgi
//! daemon process, started by hand with its own config in a scratch
//! ServerRoot; the secret sits in a `SetEnv` directive.

use super::{Service, Start, Started, launch, path_arg, serves_corpus_app};

/// Measured 94–100% per process (183 named frames in each event worker,
/// all matched); the misses are in the mod_wsgi daemon's Python thread,
/// where gmr shows Python frames in place of the interpreter's
/// `_PyEval_EvalFrameDefault` frames that gdb names.
/// The floor, 0.7, also allows a thread caught awake between gmr's
/// capture and gdb's attach; a real regression (symbols or unwinding
/// lost) falls far below it.
pub const SERVICE: Service = Service {
    name: "apache",
    needs: &["/usr/sbin/apache2", "/usr/lib/apache2/modules/mod_wsgi.so"],
    match_floor: 0.7,
    complete_stacks: true,
    every_frame_named: false,
    start,
};

const CONF: &str = include_str!("../../realworld/apache2.conf");
const APP: &str = include_str!("../../realworld/app.py");

/// The parent, its two event workers and the mod_wsgi daemon process.
const PROCESSES: usize = 4;

fn start(ctx: &Start) -> Result<Started, String> {
    let port = launch::free_port()?;
    let setenv = ctx.file_secret("apache", "apache2.conf SetEnv", "apache2.conf");
    let environment = ctx.environment_secret("apache");
    launch::write(ctx.dir, "app.py", APP)?;
    let conf = ctx.write_config(
        "apache2.conf",
        CONF,
        &[("PORT", &port.to_string()), ("SETENV", &setenv.value)],
    )?;
    let argv = [
        "/usr/sbin/apache2",
        "-d",
        ctx.dir_text()?,
        "-f",
        path_arg(&conf)?,
        "-DFOREGROUND",
    ];
    let child = ctx.launch(
        &environment,
        &argv,
        "apache serves the WSGI app",
        || serves_corpus_app(port),
        PROCESSES,
    )?;
    Ok(Started::one(
        ctx,
        child,
        vec![conf],
        vec![setenv, environment],
        PROCESSES,
    ))
}
