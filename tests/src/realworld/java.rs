//! An OpenJDK 17 program compiled with javac at test time: threads parked
//! in `LockSupport.park`, `Thread.sleep` and `Object.wait`, and one at the
//! bottom of a 10,000-call recursion; a secret in a `-D` property on its
//! command line.

use std::process::Command;

use super::{Service, Start, Started, launch};

/// The JDK's compiler and launcher.
const JAVAC: &str = "/usr/lib/jvm/java-17-openjdk-amd64/bin/javac";
const JAVA: &str = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java";

/// Measured 99.6% (256 of 257 named frames over 23 threads, 27 of them
/// tail-call frames gdb rebuilds from debug info). gdb stops
/// at the first interpreted or JIT-compiled Java frame (it has no unwind
/// information for them), so the ratio scores the JVM's own frames
/// (libjvm, libc) below it, and the 10,000-call recursion only by its
/// innermost frames; the report's own depth is the table's "deepest
/// stack".
pub const SERVICE: Service = Service {
    name: "java",
    needs: &[JAVAC, JAVA],
    match_floor: 0.9,
    complete_stacks: true,
    every_frame_named: false,
    start,
};

const SOURCE: &str = include_str!("../../realworld/Corpus.java");

fn start(ctx: &Start) -> Result<Started, String> {
    let property = ctx.argument_secret("java", "command line -D property", "-Dcorpus.db.password");
    let environment = ctx.environment_secret("java");
    launch::write(ctx.dir, "Corpus.java", SOURCE)?;
    let javac = Command::new(JAVAC)
        .args(["-d", ".", "Corpus.java"])
        .current_dir(ctx.dir)
        .output()
        .map_err(|e| format!("javac: {e}"))?;
    if !javac.status.success() {
        return Err(format!(
            "javac Corpus.java: {}\n{}",
            javac.status,
            String::from_utf8_lossy(&javac.stderr)
        ));
    }
    let password = format!("-Dcorpus.db.password={}", property.value);
    let child = ctx.launch(
        &environment,
        &[JAVA, &password, "-cp", ctx.dir_text()?, "Corpus"],
        "the Java program prints ready",
        || std::fs::read_to_string(ctx.dir.join("stdout")).is_ok_and(|out| out.contains("ready")),
        1,
    )?;
    Ok(Started::one(
        ctx,
        child,
        Vec::new(),
        vec![property, environment],
        1,
    ))
}
