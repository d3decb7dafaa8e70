//! The Processes section: the target and all its descendants as a tree,
//! each with its users, state, threads, memory, start time and (masked)
//! command line, or the title the process wrote over it.
//!
//! `/proc` is scanned once for every process's parent; the tree is then
//! walked from the target, pre-order, children by pid. Processes come and go
//! during the walk: one that vanishes is left out (its children, orphaned,
//! take its place), and one whose pid was reused since the scan is told
//! apart by its start time.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use procfs::process::Stat;

use crate::mask::mask_command_line;
use crate::model::time::UtcTime;
use crate::model::{ProcessEntry, Processes};
use crate::sections::package::root::RootFs;
use crate::sections::process_args::read_command_line;

/// The section's title in reports.
pub const TITLE: &str = "Processes";

/// Largest `/etc/passwd` read.
const MAX_PASSWD_SIZE: u64 = 16 * 1024 * 1024;

/// Generates the Processes section for process `pid` and its descendants.
///
/// Fails only when `/proc` cannot be listed or the target does not exist
/// (or exits during the walk).
pub fn processes(pid: u32) -> Result<Processes, String> {
    let target = i32::try_from(pid).map_err(|_| format!("process {pid} does not exist"))?;
    let (stats, children) = scan()?;
    if !stats.contains_key(&target) {
        return Err(crate::proc::files::missing_process(pid));
    }
    let clock = Clock::new();
    let mut users = UserNames::default();
    let entries = walk(target, &children, |pid, depth| {
        entry(pid, depth, &stats[&pid], &clock, &mut users)
    });
    if entries.first().is_none_or(|first| first.pid != pid) {
        return Err(format!(
            "process {pid} exited while its process tree was read"
        ));
    }
    Ok(Processes { processes: entries })
}

/// Walks the tree below `target` in pre-order, children by pid, making each
/// process's entry with `entry(pid, depth)`; a process without one (it
/// vanished) is left out and its children move up a level in its place.
fn walk(
    target: i32,
    children: &HashMap<i32, Vec<i32>>,
    mut entry: impl FnMut(i32, u32) -> Option<ProcessEntry>,
) -> Vec<ProcessEntry> {
    let mut entries = Vec::new();
    let mut visited = HashSet::new();
    let mut stack = vec![(target, 0_u32)];
    while let Some((pid, depth)) = stack.pop() {
        // A pid reused mid-scan could make the parent links loop.
        if !visited.insert(pid) {
            continue;
        }
        let made = entry(pid, depth);
        let child_depth = if made.is_some() { depth + 1 } else { depth };
        entries.extend(made);
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids.iter().rev().map(|&kid| (kid, child_depth)));
        }
    }
    entries
}

/// Every process's `stat`, and each parent's children sorted by pid.
type Scan = (HashMap<i32, Stat>, HashMap<i32, Vec<i32>>);

/// Reads `stat` of every process once. Processes that vanish meanwhile are
/// skipped.
fn scan() -> Result<Scan, String> {
    let all = std::fs::read_dir("/proc").map_err(|error| format!("cannot list /proc: {error}"))?;
    let pids = all.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok());
    let mut stats = HashMap::new();
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for stat in pids.filter_map(crate::proc::files::stat) {
        children.entry(stat.ppid).or_default().push(stat.pid);
        stats.insert(stat.pid, stat);
    }
    for kids in children.values_mut() {
        kids.sort_unstable();
    }
    Ok((stats, children))
}

/// The entry for `pid`, whose scanned `stat` is `scanned`; `None` when it
/// has exited, or its pid now belongs to another process.
fn entry(
    pid: i32,
    depth: u32,
    scanned: &Stat,
    clock: &Clock,
    users: &mut UserNames,
) -> Option<ProcessEntry> {
    let stat = crate::proc::files::stat(pid.cast_unsigned())?;
    if stat.starttime != scanned.starttime {
        return None;
    }
    let status = crate::proc::files::status(pid.cast_unsigned())?;
    let command_line = read_command_line(pid.cast_unsigned()).ok()?;
    let command_line_rewritten = command_line.rewritten;
    let command_line = if command_line.args.is_empty() {
        format!("[{}]", stat.comm)
    } else {
        mask_command_line(&command_line.words()).join(" ")
    };
    let pid = stat.pid.cast_unsigned();
    let root = RootFs::open(pid).ok();
    Some(ProcessEntry {
        depth,
        pid,
        ppid: stat.ppid.cast_unsigned(),
        uid: status.ruid,
        user: users.name(root.as_ref(), status.ruid),
        euid: status.euid,
        effective_user: users.name(root.as_ref(), status.euid),
        state: status.state,
        comm: stat.comm.clone(),
        command_line,
        command_line_rewritten,
        threads: u64::try_from(stat.num_threads).unwrap_or_default(),
        rss_bytes: stat.rss.saturating_mul(clock.page_size),
        started_at: clock.started_at(stat.starttime),
    })
}

/// What turns a `stat` start time and RSS into wall-clock time and bytes.
struct Clock {
    /// Boot time, seconds since the epoch; `None` if `/proc/stat` failed.
    boot_time: Option<u64>,
    ticks_per_second: u64,
    page_size: u64,
}

impl Clock {
    fn new() -> Self {
        Self {
            boot_time: procfs::boot_time_secs()
                .inspect_err(|error| log::debug!("no boot time: {error}"))
                .ok(),
            ticks_per_second: procfs::ticks_per_second(),
            page_size: procfs::page_size(),
        }
    }

    /// Start time (clock ticks after boot) as RFC 3339 UTC to the second:
    /// the boot time it counts from is itself whole seconds.
    fn started_at(&self, ticks: u64) -> Option<String> {
        let boot = self.boot_time?;
        let after_boot = Duration::from_secs(ticks / self.ticks_per_second.max(1));
        Some(rfc3339_seconds(
            UNIX_EPOCH + Duration::from_secs(boot) + after_boot,
        ))
    }
}

/// `2026-11-26T17:48:46Z`.
fn rfc3339_seconds(at: SystemTime) -> String {
    let t = UtcTime::from(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// User names by uid, from each process's own `/etc/passwd` (a container's
/// users are not the host's), falling back to the host's; each file is
/// read once per section.
#[derive(Default)]
struct UserNames {
    /// By root directory (device, inode).
    by_root: HashMap<(u64, u64), HashMap<u32, String>>,
    /// The host's, read on first need.
    host: Option<HashMap<u32, String>>,
}

impl UserNames {
    /// The name of `uid` for a process whose filesystem tree is `root`
    /// (`None` when it could not be opened).
    fn name(&mut self, root: Option<&RootFs>, uid: u32) -> Option<String> {
        if let Some(root) = root {
            let names = self.by_root.entry(root.identity()).or_insert_with(|| {
                root.read_text("/etc/passwd", MAX_PASSWD_SIZE)
                    .map(|text| parse_passwd(&text))
                    .unwrap_or_default()
            });
            if let Some(name) = names.get(&uid) {
                return Some(name.clone());
            }
        }
        self.host
            .get_or_insert_with(|| {
                std::fs::read_to_string("/etc/passwd")
                    .map(|text| parse_passwd(&text))
                    .unwrap_or_default()
            })
            .get(&uid)
            .cloned()
    }
}

/// `name:password:uid:…` lines by uid; the first entry for a uid wins, as
/// for getpwuid(3).
fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let Ok(uid) = uid.parse() {
            names.entry(uid).or_insert_with(|| name.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader};
    use std::path::Path;
    use std::process::{Command, Stdio};

    use crate::test_support::Reaped;

    /// Starts `sh -c SCRIPT`, which prints `name=pid` words (on any lines),
    /// and waits until all of `names` were printed.
    fn spawn_tree(script: &str, names: &[&str]) -> (Reaped, HashMap<String, u32>) {
        let mut child = Command::new("sh")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut pids = HashMap::new();
        while !names.iter().all(|name| pids.contains_key(*name)) {
            let line = lines.next().expect("sh printed all pids").expect("read");
            for word in line.split_whitespace() {
                let (name, pid) = word.split_once('=').expect("name=pid");
                pids.insert(name.to_owned(), pid.parse().expect("a pid"));
            }
        }
        (Reaped(child), pids)
    }

    /// Waits until `pid` runs `comm`: `$!` names a forked shell that execs
    /// its command a moment later.
    fn wait_for_comm(pid: u32, comm: &str) {
        for _ in 0..500 {
            let now = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if now.trim_end() == comm {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("process {pid} never became {comm}");
    }

    /// Kills processes this test started that `Reaped` does not own.
    fn kill_all(pids: &HashMap<String, u32>) {
        for &pid in pids.values() {
            if let Some(pid) = rustix::process::Pid::from_raw(pid.cast_signed()) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }

    fn fake_entry(pid: i32, depth: u32) -> ProcessEntry {
        ProcessEntry {
            depth,
            pid: pid.cast_unsigned(),
            ..ProcessEntry::default()
        }
    }

    #[test]
    fn tree_in_pre_order_with_depths() {
        // sh ─┬─ sleep (a)
        //     └─ sh (b) ── sleep (g)
        let (sh, pids) = spawn_tree(
            "sleep 60 & echo a=$!; sh -c 'sleep 60 & echo g=$!; wait' & echo b=$!; wait",
            &["a", "b", "g"],
        );
        wait_for_comm(pids["a"], "sleep");
        wait_for_comm(pids["g"], "sleep");
        let root = sh.0.id();
        let tree = processes(root).expect("processes");
        kill_all(&pids);
        let order: Vec<(u32, u32, u32)> = tree
            .processes
            .iter()
            .map(|p| (p.pid, p.ppid, p.depth))
            .collect();
        let mut children = [pids["a"], pids["b"]];
        children.sort_unstable();
        let expected: Vec<(u32, u32, u32)> = [(root, std::process::id(), 0)]
            .into_iter()
            .chain(children.iter().flat_map(|&child| {
                let mut rows = vec![(child, root, 1)];
                if child == pids["b"] {
                    rows.push((pids["g"], child, 2));
                }
                rows
            }))
            .collect();
        assert_eq!(order, expected);
        let me = rustix::process::getuid().as_raw();
        let first = &tree.processes[0];
        assert_eq!((first.uid, first.euid), (me, me));
        assert_eq!(first.user.as_deref(), Some("root"));
        assert_eq!(first.effective_user.as_deref(), Some("root"));
        assert!(
            first.command_line.starts_with("sh -c sleep 60 &"),
            "{}",
            first.command_line
        );
        assert_eq!(first.comm, "sh");
        assert_eq!(first.threads, 1);
        assert!(first.rss_bytes > 0);
        assert!(first.state.starts_with("S ("), "{}", first.state);
        let started = first.started_at.as_deref().expect("start time");
        assert_eq!(started.len(), "2026-11-26T17:48:46Z".len(), "{started}");
        let sleep = tree
            .processes
            .iter()
            .find(|p| p.pid == pids["g"])
            .expect("g");
        assert_eq!(sleep.command_line, "sleep 60");
    }

    #[test]
    fn child_that_vanishes_mid_walk_is_left_out() {
        let (sh, pids) = spawn_tree(
            "sleep 60 & echo a=$!; sleep 60 & echo b=$!; wait",
            &["a", "b"],
        );
        let root = sh.0.id().cast_signed();
        let (stats, children) = scan().expect("scan");
        // `a` exits after the scan; sh reaps it, so its pid is gone.
        kill_all(&HashMap::from([("a".to_owned(), pids["a"])]));
        while Path::new(&format!("/proc/{}", pids["a"])).exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let clock = Clock::new();
        let mut users = UserNames::default();
        let tree = walk(root, &children, |pid, depth| {
            entry(pid, depth, &stats[&pid], &clock, &mut users)
        });
        kill_all(&pids);
        let listed: Vec<u32> = tree.iter().map(|p| p.pid).collect();
        assert_eq!(listed, [sh.0.id(), pids["b"]]);
    }

    #[test]
    fn vanished_parents_children_move_up_and_loops_end() {
        let children = HashMap::from([(1, vec![2, 5]), (2, vec![3, 4]), (4, vec![1])]);
        let tree = walk(1, &children, |pid, depth| {
            (pid != 2).then(|| fake_entry(pid, depth))
        });
        let rows: Vec<(u32, u32)> = tree.iter().map(|p| (p.pid, p.depth)).collect();
        assert_eq!(rows, [(1, 0), (3, 1), (4, 1), (5, 1)]);
    }

    #[test]
    fn missing_target() {
        assert_eq!(
            processes(u32::MAX).expect_err("no such process"),
            "process 4294967295 does not exist"
        );
    }

    #[test]
    fn passwd_and_times() {
        let names = parse_passwd(
            "root:x:0:0:root:/root:/bin/sh\nbad\nnova:x:1000:1000::/:/bin/false\nroot2:x:0:0::/:\n",
        );
        assert_eq!(names[&0], "root");
        assert_eq!(names[&1000], "nova");
        assert_eq!(names.len(), 2);
        // date -u -d @1795715326 → 2026-11-26 17:48:46
        assert_eq!(
            rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(1_795_715_326_990)),
            "2026-11-26T17:48:46Z"
        );
    }
}
