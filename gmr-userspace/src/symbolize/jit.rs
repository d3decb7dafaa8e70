//! Code a runtime generated at run time (JIT-compiled Java, JavaScript…):
//! named from the perf map the runtime writes, `/tmp/perf-<pid>.map`, and
//! otherwise explained by which runtime the anonymous code belongs to.
//!
//! The map is the perf JIT interface (tools/perf/Documentation/
//! jit-interface.txt): one `START SIZE name` line per function, hex numbers,
//! later lines winning where code was reused. It is read through the
//! process's root and named by the pid the process sees itself as, so a
//! runtime in a container is found. Hand-written because blazesym's own
//! reader rejects the `0x` prefix HotSpot writes (`jcmd PID
//! Compiler.perfmap`), and a map it cannot parse fails the symbolization of
//! the whole process, its ELF frames included; here a malformed line is
//! skipped and counted, and only anonymous code is looked up.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::proc::pid_namespace::NamespacePid;
use crate::unwind::ProcessModules;

/// Lines read at most from one map; a runtime that runs for months may
/// append forever, and the newest lines come last.
const MAX_LINES: usize = 2_000_000;
/// Entries before an address that may still contain it: a function's start
/// sorts before later ones, so an address is in one of the last few.
const OVERLAP_WINDOW: usize = 64;

/// One function of a perf map.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    start: u64,
    end: u64,
    /// The line it came from: a later line wins over an earlier one.
    line: usize,
    name: String,
}

/// A runtime's perf map, parsed.
#[derive(Debug, Default)]
pub struct PerfMap {
    /// Sorted by start address.
    entries: Vec<Entry>,
    /// Lines that were not `START SIZE name`.
    pub skipped_lines: usize,
}

impl PerfMap {
    /// Parses the text of a map, skipping (and counting) malformed lines.
    pub fn parse(text: &str) -> Self {
        let mut map = PerfMap::default();
        for (line, text) in text.lines().take(MAX_LINES).enumerate() {
            match parse_line(text) {
                Some((start, size, name)) => map.entries.push(Entry {
                    start,
                    end: start.saturating_add(size),
                    line,
                    name: name.to_owned(),
                }),
                None if text.trim().is_empty() => {}
                None => map.skipped_lines += 1,
            }
        }
        map.entries.sort_by_key(|entry| (entry.start, entry.line));
        map
    }

    /// The function containing `address`, from the latest line that covers it.
    pub fn name_of(&self, address: u64) -> Option<&str> {
        let after = self.entries.partition_point(|entry| entry.start <= address);
        self.entries[after.saturating_sub(OVERLAP_WINDOW)..after]
            .iter()
            .filter(|entry| address < entry.end)
            .max_by_key(|entry| entry.line)
            .map(|entry| entry.name.as_str())
    }

    /// How many functions it names.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when it names none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `START SIZE name`: hex numbers, with or without `0x`; the name is the
/// rest of the line.
fn parse_line(line: &str) -> Option<(u64, u64, &str)> {
    let hex = |field: &str| {
        let digits = field
            .strip_prefix("0x")
            .or_else(|| field.strip_prefix("0X"))
            .unwrap_or(field);
        u64::from_str_radix(digits, 16).ok()
    };
    let (start, rest) = line.trim_start().split_once(char::is_whitespace)?;
    let (size, name) = rest.trim_start().split_once(char::is_whitespace)?;
    let name = name.trim();
    (!name.is_empty()).then_some((hex(start)?, hex(size)?, name))
}

/// Where process `pid`'s perf map is, as the agent reaches it: its `/tmp`,
/// named by the pid it sees itself as.
pub fn perf_map_path(pid: u32) -> PathBuf {
    let own_pid = NamespacePid::read(pid).ns_pid.unwrap_or(pid);
    PathBuf::from(format!("/proc/{pid}/root/tmp/perf-{own_pid}.map"))
}

/// The map's identity on disk: it changes when the runtime writes it again.
pub fn map_version(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// A runtime known to generate code, found by a module it maps.
struct Runtime {
    /// What it is.
    name: &'static str,
    /// A module file name (or its start) that only it maps.
    module: &'static str,
    /// How to make it write a perf map.
    perf_map_hint: &'static str,
}

/// The runtimes whose JIT code gmr can explain.
const RUNTIMES: [Runtime; 2] = [
    Runtime {
        name: "the HotSpot JVM",
        module: "libjvm.so",
        perf_map_hint: "`jcmd {pid} Compiler.perfmap` writes one now; \
                        -XX:+UnlockDiagnosticVMOptions -XX:+DumpPerfMapAtExit only at exit",
    },
    Runtime {
        name: "Node.js (V8)",
        module: "node",
        perf_map_hint: "start node with --perf-basic-prof",
    },
];

/// The note for a thread with `unnamed` frames in anonymous executable
/// memory: whose code it is (by the runtime's module in `modules`) and
/// why it has no name (no perf map at `map`, or one that does not cover
/// it).
pub fn unnamed_code_note(
    unnamed: usize,
    modules: &ProcessModules,
    map: Option<&PerfMap>,
    path: &std::path::Path,
    pid: u32,
) -> String {
    let runtime = RUNTIMES.iter().find(|runtime| {
        modules.modules().iter().any(|module| {
            let file = module.path.rsplit('/').next().unwrap_or(&module.path);
            file == runtime.module || file.starts_with(&format!("{}.", runtime.module))
        })
    });
    let whose = match runtime {
        Some(runtime) => format!("JIT code of {}", runtime.name),
        None => "code no mapped file holds (JIT or generated code)".to_owned(),
    };
    let why = match map {
        Some(map) => format!(
            "not in {} ({} functions{})",
            path.display(),
            map.len(),
            match map.skipped_lines {
                0 => String::new(),
                skipped => format!(", {skipped} malformed lines skipped"),
            }
        ),
        None => match runtime {
            Some(runtime) => format!(
                "no perf map names it: {}",
                runtime.perf_map_hint.replace("{pid}", &pid.to_string())
            ),
            None => format!("no perf map names it ({})", path.display()),
        },
    };
    format!("{unnamed} frame(s) outside every mapped file, {whose}: {why}")
}

#[cfg(test)]
mod tests {
    use super::PerfMap;

    #[test]
    fn reads_hotspot_and_v8_lines_and_skips_malformed_ones() {
        let map = PerfMap::parse(
            "0x00007f9ad0ec7600 0x00000000000000b8 long Spin.work(long)\n\
             7f00aa001000 40 LazyCompile:~main /srv/app.js:3\n\
             not a line\n\
             \n\
             0x10 zz bad size\n",
        );
        assert_eq!(map.len(), 2);
        assert_eq!(map.skipped_lines, 2);
        assert_eq!(map.name_of(0x7f9a_d0ec_7600), Some("long Spin.work(long)"));
        assert_eq!(map.name_of(0x7f9a_d0ec_76b7), Some("long Spin.work(long)"));
        assert_eq!(map.name_of(0x7f9a_d0ec_76b8), None);
        assert_eq!(
            map.name_of(0x7f00_aa00_1020),
            Some("LazyCompile:~main /srv/app.js:3")
        );
        assert_eq!(map.name_of(0x5), None);
    }

    #[test]
    fn a_later_line_wins_where_code_was_reused() {
        let map = PerfMap::parse("1000 100 old\n1010 10 small\n1000 100 new\n");
        assert_eq!(map.name_of(0x1050), Some("new"));
        assert_eq!(map.name_of(0x1015), Some("new"));
    }
}
