//! Small readers of `/proc/PID` files that several stages need.

/// The process's name (`/proc/PID/comm`), or empty if it cannot be read.
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end().to_owned())
        .unwrap_or_default()
}

/// How many threads the process has (`num_threads` in `/proc/PID/stat`),
/// if that can be read.
pub fn thread_count(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesized comm (which may hold spaces) start at
    // the state, field 3; num_threads is field 20.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(17)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_name_and_tolerates_a_missing_process() {
        let own = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(super::comm(std::process::id()), own.trim_end());
        assert_eq!(super::comm(u32::MAX - 1), "");
    }

    #[test]
    fn counts_own_threads() {
        let tasks = std::fs::read_dir("/proc/self/task").unwrap().count() as u32;
        let counted = super::thread_count(std::process::id()).unwrap();
        // The test harness may start or end threads meanwhile.
        assert!(
            counted >= 1 && counted.abs_diff(tasks) <= 2,
            "{counted} vs {tasks}"
        );
        assert_eq!(super::thread_count(u32::MAX - 1), None);
    }
}
