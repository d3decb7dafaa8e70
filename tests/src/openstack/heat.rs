//! heat-api standalone (Debian's OpenStack Zed): eventlet with two forked
//! workers on 127.0.0.1, a sqlite database and its config in the scratch
//! directory; secrets planted in `heat.conf` (the rabbit `transport_url`
//! password, `auth_encryption_key`, two keystone passwords) and the
//! environment.

use crate::realworld::{Service, Start, Started, launch, secrets, template};

/// The gdb floor of the real-world corpus does not apply: the OpenStack
/// corpus compares with oslo's own report instead (see the module root).
pub const SERVICE: Service = Service {
    name: "heat-api",
    needs: &["/usr/bin/heat-api", "/etc/heat/api-paste.ini"],
    match_floor: 0.0,
    complete_stacks: false,
    every_frame_named: false,
    start,
};

const CONF: &str = include_str!("../../realworld/heat.conf");

/// The parent and its two workers.
const PROCESSES: usize = 3;

fn start(ctx: &Start) -> Result<Started, String> {
    let port = launch::free_port()?;
    let rabbit = ctx.file_secret("heat-api", "heat.conf transport_url password", "heat.conf");
    let auth_key = ctx.file_secret("heat-api", "heat.conf auth_encryption_key", "heat.conf");
    let keystone = ctx.file_secret(
        "heat-api",
        "heat.conf keystone_authtoken password",
        "heat.conf",
    );
    let trustee = ctx.file_secret("heat-api", "heat.conf trustee password", "heat.conf");
    let environment = ctx.environment_secret("heat-api");
    let dir = ctx.dir.to_str().ok_or("non-UTF-8 scratch path")?;
    let conf = launch::write(
        ctx.dir,
        "heat.conf",
        &template(
            CONF,
            &[
                ("DIR", dir),
                ("PORT", &port.to_string()),
                ("RABBIT", &rabbit.value),
                ("AUTHKEY", &auth_key.value),
                ("KEYSTONE", &keystone.value),
                ("TRUSTEE", &trustee.value),
            ],
        ),
    )?;
    let child = launch::spawn_in(
        ctx.cgroup,
        ctx.dir,
        &secrets::environment(&environment),
        &[
            "/usr/bin/heat-api",
            "--config-file",
            conf.to_str().ok_or("non-UTF-8 config path")?,
        ],
    )?;
    launch::wait_until("heat-api lists its API versions", ctx.dir, || {
        launch::http_get(port, "/").is_ok_and(|r| r.contains("versions"))
    })?;
    launch::wait_for_processes(ctx.cgroup, ctx.dir, PROCESSES)?;
    Ok(Started {
        children: vec![child],
        stderr: ctx.dir.join("stderr"),
        config_files: vec![conf],
        secrets: vec![rabbit, auth_key, keystone, trustee, environment],
        processes: PROCESSES,
        helpers: Vec::new(),
    })
}
