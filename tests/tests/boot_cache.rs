//! The per-boot caches under `/run/gmr/cache`: the first one-shot report
//! makes them (root-only), the next uses them, and a malformed one is
//! never trusted: the agent says so, makes the report from the kernel's
//! own files and writes the cache again.

use std::{
    fs,
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::Path,
    process::Command,
};

use gmr_tests::{
    CVariant, Fixture,
    agent::{agent_binary, section},
    build_c_fixture, require_root,
};
use serde_json::Value;

const CACHE_DIR: &str = "/run/gmr/cache";
const CACHES: [&str; 2] = ["kallsyms", "btf-layout"];

/// `report --pid` with the agent's debug log; panics unless the report
/// names kernel functions. Returns the log.
#[track_caller]
fn report_naming_kernel_functions(pid: u32) -> String {
    let out = Command::new(agent_binary())
        .args(["report", "--pid", &pid.to_string(), "--format", "json"])
        .env("RUST_LOG", "gmr_userspace=debug")
        .output()
        .expect("start gmr-agent");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "report failed: {log}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("the JSON report parses");
    let threads = section(&report, "Threads")["threads"]
        .as_array()
        .expect("a threads array");
    let named = threads
        .iter()
        .flat_map(|t| t["kernel_stack"].as_array().into_iter().flatten())
        .filter(|frame| {
            frame["function"]
                .as_str()
                .is_some_and(|f| f.contains("+0x"))
        })
        .count();
    assert!(named > 0, "no kernel function named; log: {log}");
    log
}

#[track_caller]
fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn one_shot_reports_make_use_and_rebuild_the_boot_caches() {
    if !require_root() {
        return;
    }
    let fixture = Fixture::spawn(&build_c_fixture(CVariant::NoFramePointer), &[], None);
    let dir = Path::new(CACHE_DIR);
    for name in CACHES {
        let _ = fs::remove_file(dir.join(name));
    }

    let log = report_naming_kernel_functions(fixture.pid());
    assert_eq!(mode(dir), 0o700, "the cache directory is root-only");
    for name in CACHES {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}; log: {log}");
    }

    let log = report_naming_kernel_functions(fixture.pid());
    for name in CACHES {
        assert!(
            log.contains(&format!("{CACHE_DIR}/{name} used")),
            "the second report reads {name} from the cache; log: {log}"
        );
    }

    let garbage = |path: &Path, bytes: &[u8]| {
        let _ = fs::remove_file(path);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
    };
    garbage(&dir.join("kallsyms"), b"gmrboot1 and then nothing sensible");
    let layout = fs::read(dir.join("btf-layout")).unwrap();
    garbage(&dir.join("btf-layout"), &layout[..layout.len() - 3]);
    let log = report_naming_kernel_functions(fixture.pid());
    for name in CACHES {
        assert!(
            log.contains(&format!(
                "boot cache {CACHE_DIR}/{name} ignored and rebuilt: malformed"
            )),
            "a malformed {name} is reported; log: {log}"
        );
    }
    let log = report_naming_kernel_functions(fixture.pid());
    for name in CACHES {
        assert!(
            log.contains(&format!("{CACHE_DIR}/{name} used")),
            "{name} was written again; log: {log}"
        );
    }
}
