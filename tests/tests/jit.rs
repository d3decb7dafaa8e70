//! JIT-compiled code of a real runtime (OpenJDK 17's HotSpot): a thread
//! spinning in a compiled Java method is reported first with no perf map
//! (its note names the runtime and how to get one written), then after
//! `jcmd PID Compiler.perfmap`, with its JIT frames named as the JVM's own
//! map names their addresses, and the JVM's native frames named as before.

use std::path::Path;
use std::process::Command;

use gmr_tests::agent::{report_json, section};
use gmr_tests::scratch::Scratch;
use gmr_tests::{Fixture, require_root, workspace_root};
use serde_json::Value;

/// The JDK the real-world corpus installs.
const JDK: &str = "/usr/lib/jvm/java-17-openjdk-amd64/bin";

/// `(start, end, name)` of each line of a perf map, in file order; the
/// test's own reading, so the report is checked against the JVM's file.
fn perf_map(path: &Path) -> Vec<(u64, u64, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let hex = |field: &str| u64::from_str_radix(field.trim_start_matches("0x"), 16).ok();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ' ');
            let start = hex(fields.next()?)?;
            let size = hex(fields.next()?)?;
            Some((start, start + size, fields.next()?.to_owned()))
        })
        .collect()
}

/// The name the map's latest line covering `address` gives.
fn named_in(map: &[(u64, u64, String)], address: u64) -> Option<&str> {
    map.iter()
        .rev()
        .find(|(start, end, _)| (*start..*end).contains(&address))
        .map(|(_, _, name)| name.as_str())
}

/// Every thread's user frames of the report on `pid`.
fn user_frames(pid: u32) -> (Vec<Value>, Vec<Value>) {
    let report = report_json(pid);
    let threads = section(&report, "Threads")["threads"]
        .as_array()
        .expect("threads")
        .clone();
    let frames = threads
        .iter()
        .flat_map(|thread| thread["user_stack"].as_array().cloned().unwrap_or_default())
        .collect();
    (threads, frames)
}

#[test]
fn jit_frames_are_named_from_the_runtime_perf_map_or_explained() {
    if !require_root() {
        return;
    }
    let (javac, java, jcmd) = (
        Path::new(JDK).join("javac"),
        Path::new(JDK).join("java"),
        Path::new(JDK).join("jcmd"),
    );
    if !javac.exists() || !jcmd.exists() {
        println!("SKIP: no JDK at {JDK} (apt-get install -y openjdk-17-jdk-headless)");
        return;
    }
    let scratch = Scratch::new("jit");
    let source = workspace_root().join("tests/fixtures/java/HotLoop.java");
    let compiled = Command::new(&javac)
        .arg("-d")
        .arg(scratch.path())
        .arg(&source)
        .output()
        .expect("run javac");
    assert!(
        compiled.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let classes = scratch.path().to_str().unwrap();
    let jvm = Fixture::spawn(
        &java,
        &["-XX:+PreserveFramePointer", "-cp", classes, "HotLoop"],
        None,
    );
    let pid = jvm.pid();
    let map_path = std::path::PathBuf::from(format!("/tmp/perf-{pid}.map"));
    let _ = std::fs::remove_file(&map_path);

    let (threads, frames) = user_frames(pid);
    assert!(
        frames.iter().all(|frame| frame["kind"] != "jit"),
        "no perf map, no JIT frame"
    );
    let notes: Vec<&str> = threads
        .iter()
        .filter_map(|thread| thread["user_stack_note"].as_str())
        .collect();
    assert!(
        notes
            .iter()
            .any(|note| note.contains("JIT code of the HotSpot JVM")
                && note.contains(&format!("jcmd {pid} Compiler.perfmap"))),
        "a thread in compiled Java code says whose code it is and how to name it: {notes:#?}"
    );

    let written = Command::new(&jcmd)
        .args([&pid.to_string(), "Compiler.perfmap"])
        .output()
        .expect("run jcmd");
    assert!(
        written.status.success() && map_path.exists(),
        "jcmd Compiler.perfmap: {}",
        String::from_utf8_lossy(&written.stdout)
    );
    let map = perf_map(&map_path);
    let (_, frames) = user_frames(pid);
    let jit: Vec<&Value> = frames.iter().filter(|f| f["kind"] == "jit").collect();
    for frame in &jit {
        let address = frame["address"].as_u64().expect("address");
        assert_eq!(
            frame["function"].as_str(),
            named_in(&map, address),
            "the JVM's map names {address:#x} so: {frame}"
        );
    }
    println!(
        "{} JIT frame(s) named from {} map lines: {:?}",
        jit.len(),
        map.len(),
        jit.iter().map(|f| &f["function"]).collect::<Vec<_>>()
    );
    assert!(
        jit.iter().any(|f| f["function"]
            .as_str()
            .is_some_and(|name| name.contains("HotLoop."))),
        "the hot Java method is named: {jit:#?}"
    );
    let named_native = frames
        .iter()
        .filter(|f| f["kind"] == "native" && !f["function"].is_null())
        .filter(|f| {
            f["module"]
                .as_str()
                .is_some_and(|m| m.ends_with("libjvm.so"))
        })
        .count();
    assert!(
        named_native > 0,
        "the JVM's own frames stay named beside a perf map"
    );
    drop(jvm);
    let _ = std::fs::remove_file(&map_path);
}
