//! heat-engine (Debian's OpenStack Zed) on a real rabbitmq-server: the
//! broker runs on 127.0.0.1 in a cgroup of its own (not tagged), its
//! default user's password being the `transport_url` secret; heat-engine
//! runs two forked workers with a sqlite database made by `heat-manage
//! db_sync`, logging to a file in its scratch directory (oslo's report
//! still goes to stderr: no `[oslo_reports] log_dir`).

use std::path::{Path, PathBuf};
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
    let (broker, mut broker_child, rabbit_port) = start_rabbitmq(ctx, &rabbit.value)?;
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
    let mut broker_exit = None;
    let ready = launch::wait_until("both heat-engine workers serve RPC", ctx.dir, || {
        broker_exit = broker_child.try_wait().ok().flatten();
        broker_exit.is_some()
            || std::fs::read_to_string(&log).is_ok_and(|l| l.matches(WORKER_READY).count() >= 2)
    });
    let failure = match (ready, broker_exit) {
        (Ok(()), None) => None,
        (Ok(()), Some(status)) => Some(format!("rabbitmq-server exited ({status})")),
        (Err(e), _) => Some(e),
    };
    if let Some(failure) = failure {
        return Err(format!(
            "{failure}\n{}\n{}",
            tail(&log),
            tail(&rabbitmq_log(ctx.dir, rabbit_port)),
        ));
    }
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
    let [port, dist_port, epmd_port] = launch::free_ports()?;
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
        ("RABBITMQ_NODENAME", node_name(port)),
        ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".to_owned()),
        ("RABBITMQ_NODE_PORT", port.to_string()),
        ("RABBITMQ_DIST_PORT", dist_port.to_string()),
        (
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
            "-kernel inet_dist_use_interface {127,0,0,1}".to_owned(),
        ),
        ("ERL_EPMD_ADDRESS", "127.0.0.1".to_owned()),
        ("ERL_EPMD_PORT", epmd_port.to_string()),
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
    launch::wait_until("rabbitmq-server speaks AMQP", &dir, || speaks_amqp(port))
        .map_err(|e| format!("{e}\n{}", tail(&rabbitmq_log(ctx.dir, port))))?;
    Ok((cgroup, child, port))
}

/// Whether an AMQP 0-9-1 broker answers on 127.0.0.1:`port`: its reply to
/// the protocol header is a method frame (type 1, `Connection.Start`), so
/// that neither epmd nor a half-started node passes for the broker.
fn speaks_amqp(port: u16) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut frame_type = [0u8; 1];
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .is_ok()
        && stream.write_all(b"AMQP\0\0\x09\x01").is_ok()
        && stream.read_exact(&mut frame_type).is_ok()
        && frame_type == [1]
}

/// The log of the broker on AMQP `port`, in `scratch/rabbitmq/log`.
fn rabbitmq_log(scratch: &Path, port: u16) -> PathBuf {
    scratch.join(format!("rabbitmq/log/{}.log", node_name(port)))
}

/// The broker's Erlang node name, which also names its log.
fn node_name(port: u16) -> String {
    format!("gmr{port}@localhost")
}

/// The last lines of `path`, headed by its name, for a failure message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("(unreadable: {e})"));
    let lines: Vec<&str> = text.lines().collect();
    let last = &lines[lines.len().saturating_sub(15)..];
    format!("the end of {}:\n{}", path.display(), last.join("\n"))
}
