//! Small readers of `/proc/PID` files that several stages need.

/// The process's name (`/proc/PID/comm`), or empty if it cannot be read.
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_name_and_tolerates_a_missing_process() {
        let own = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(super::comm(std::process::id()), own.trim_end());
        assert_eq!(super::comm(u32::MAX - 1), "");
    }
}
