//! prometheus-node-exporter: a Go daemon (goroutines on a handful of OS
//! threads) listening on 127.0.0.1, with a secret in its environment.

use super::{Service, Start, Started, launch};

/// No gdb floor: Debian's binary is stripped and gdb does not read Go's
/// own symbol table (`.gopclntab`), so gdb names 1 frame of ~27
/// (measured); the ratio is printed as it is. gmr names every frame from
/// `.gopclntab` (measured: 39 of 39) and ends each stack where the Go
/// runtime's traceback does, so `every_frame_named` holds it to that.
/// Stacks are not required to reach a thread entry: a thread parked in the
/// scheduler ends at `runtime.mcall`, where Go switched from the
/// goroutine's stack, with a note.
pub const SERVICE: Service = Service {
    name: "node-exporter",
    needs: &["/usr/bin/prometheus-node-exporter"],
    match_floor: 0.0,
    complete_stacks: false,
    every_frame_named: true,
    start,
};

fn start(ctx: &Start) -> Result<Started, String> {
    let port = launch::free_port()?;
    let environment = ctx.environment_secret("node-exporter");
    let listen = format!("--web.listen-address=127.0.0.1:{port}");
    let argv = [
        "/usr/bin/prometheus-node-exporter",
        &listen,
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--collector.meminfo",
    ];
    let child = ctx.launch(
        &environment,
        &argv,
        "node-exporter serves /metrics",
        || launch::http_get(port, "/metrics").is_ok_and(|r| r.contains("node_load1")),
        1,
    )?;
    Ok(Started::one(ctx, child, Vec::new(), vec![environment], 1))
}
