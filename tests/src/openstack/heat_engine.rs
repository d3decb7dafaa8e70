//! heat-engine (Debian's OpenStack Zed) on a real rabbitmq-server: the
//! broker runs on 127.0.0.1 in a cgroup of its own (not tagged), its
//! default user's password being the `transport_url` secret; heat-engine
//! runs two forked workers with a sqlite database made by `heat-manage
//! db_sync`, logging to a file in its scratch directory (oslo's report
//! still goes to stderr: no `[oslo_reports] log_dir`).

use std::process::{Child, Command, Stdio};

use crate::TestCgroup;
use crate::realworld::{Service, Start, Started, launch, secrets, template};

/// The gdb floor of the real-world corpus does not apply: the OpenStack
/// corpus compares with oslo's own report instead (see the module root).
pub const SERVICE: Service = Service {
    name: "heat-engine",
    needs: &[
        "/usr/bin/heat-engine",
        "/usr/bin/heat-manage",
        "/usr/lib/rabbitmq/bin/rabbitmq-server",
    ],
    match_floor: 0.0,
    complete_stacks: false,
    every_frame_named: false,
    start,
};

const CONF: &str = include_str!("../../realworld/heat-engine.conf");
const RABBITMQ_CONF: &str = include_str!("../../realworld/rabbitmq.conf");

/// The parent and its two workers.
const PROCESSES: usize = 2 + 1;

/// What each worker logs once it serves RPC.
const WORKER_READY: &str = "Starting engine_worker";

fn start(ctx: &Start) -> Result<Started, String> {
    let rabbit = ctx.file_secret(
        "heat-engine",
        "heat-engine.conf transport_url password",
        "heat-engine.conf",
    );
    let mut auth_key = ctx.file_secret(
        "heat-engine",
        "heat-engine.conf auth_encryption_key",
        "heat-engine.conf",
    );
    auth_key.value = aes_key(&auth_key.value);
    let keystone = ctx.file_secret(
        "heat-engine",
        "heat-engine.conf keystone_authtoken password",
        "heat-engine.conf",
    );
    let environment = ctx.environment_secret("heat-engine");
    let (broker, broker_child, rabbit_port) = start_rabbitmq(ctx, &rabbit.value)?;
    let dir = ctx.dir.to_str().ok_or("non-UTF-8 scratch path")?;
    let conf = launch::write(
        ctx.dir,
        "heat-engine.conf",
        &template(
            CONF,
            &[
                ("DIR", dir),
                ("RABBIT", &rabbit.value),
                ("RABBIT_PORT", &rabbit_port.to_string()),
                ("AUTHKEY", &auth_key.value),
                ("KEYSTONE", &keystone.value),
            ],
        ),
    )?;
    let conf_arg = conf.to_str().ok_or("non-UTF-8 config path")?;
    let sync = Command::new("/usr/bin/heat-manage")
        .args(["--config-file", conf_arg, "db_sync"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("heat-manage db_sync: {e}"))?;
    if !sync.status.success() {
        return Err(format!(
            "heat-manage db_sync: {}: {}",
            sync.status,
            String::from_utf8_lossy(&sync.stderr)
        ));
    }
    let child = launch::spawn_in(
        ctx.cgroup,
        ctx.dir,
        &secrets::environment(&environment),
        &["/usr/bin/heat-engine", "--config-file", conf_arg],
    )?;
    let log = ctx.dir.join("heat-engine.log");
    launch::wait_until("both heat-engine workers serve RPC", ctx.dir, || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.matches(WORKER_READY).count() >= 2)
    })
    .map_err(|e| {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        format!("{e}\nthe end of {}:\n{}", log.display(), tail.join("\n"))
    })?;
    launch::wait_for_processes(ctx.cgroup, ctx.dir, PROCESSES)?;
    Ok(Started {
        children: vec![child, broker_child],
        stderr: ctx.dir.join("stderr"),
        config_files: vec![conf],
        secrets: vec![rabbit, auth_key, keystone, environment],
        processes: PROCESSES,
        helpers: vec![broker],
    })
}

/// `value` made exactly 32 characters, as heat-engine's startup check
/// demands of `auth_encryption_key`: padded, or cut keeping its end (the
/// run's nonce, which makes it unique).
fn aes_key(value: &str) -> String {
    let padded = format!("{value:0>32}");
    padded[padded.len() - 32..].to_owned()
}

/// Starts rabbitmq-server in `ctx.dir/rabbitmq` and a cgroup of its own,
/// every port (AMQP, Erlang distribution, epmd) on 127.0.0.1, with
/// `password` for its default user; returns its cgroup, the process
/// spawned and the AMQP port.
fn start_rabbitmq(ctx: &Start, password: &str) -> Result<(TestCgroup, Child, u16), String> {
    let dir = ctx.dir.join("rabbitmq");
    std::fs::create_dir(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let port = launch::free_port()?;
    let conf = launch::write(
        &dir,
        "rabbitmq.conf",
        &template(
            RABBITMQ_CONF,
            &[("PORT", &port.to_string()), ("PASSWORD", password)],
        ),
    )?;
    launch::write(&dir, "enabled_plugins", "[].\n")?;
    let env: Vec<(String, String)> = [
        ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin".to_owned()),
        ("LANG", "C.UTF-8".to_owned()),
        ("HOME", path("")),
        ("RABBITMQ_NODENAME", format!("gmr{port}@localhost")),
        ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".to_owned()),
        ("RABBITMQ_NODE_PORT", port.to_string()),
        ("RABBITMQ_DIST_PORT", launch::free_port()?.to_string()),
        (
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
            "-kernel inet_dist_use_interface {127,0,0,1}".to_owned(),
        ),
        ("ERL_EPMD_ADDRESS", "127.0.0.1".to_owned()),
        ("ERL_EPMD_PORT", launch::free_port()?.to_string()),
        ("RABBITMQ_CONFIG_FILE", conf.to_string_lossy().into_owned()),
        ("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins")),
        ("RABBITMQ_MNESIA_BASE", path("mnesia")),
        ("RABBITMQ_LOG_BASE", path("log")),
        ("RABBITMQ_PID_FILE", path("pid")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let cgroup = TestCgroup::create();
    let child = launch::spawn_in(
        &cgroup,
        &dir,
        &env,
        &["/usr/lib/rabbitmq/bin/rabbitmq-server"],
    )?;
    launch::wait_until("rabbitmq-server accepts AMQP", &dir, || {
        launch::accepts(port)
    })?;
    Ok((cgroup, child, port))
}
