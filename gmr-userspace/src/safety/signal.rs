//! Signal names and numbers (Linux, x86_64).

/// Standard signals by number (index + 1).
const NAMES: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// Parses `SIGUSR2`, `USR2`, `usr2` or `12`. Real-time signals as `SIGRTMIN+N`.
pub fn parse(text: &str) -> Result<u32, String> {
    let upper = text.trim().to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper.clone()
    } else {
        format!("SIG{upper}")
    };
    let number = if let Ok(n) = upper.parse::<u32>() {
        Some(n)
    } else if let Some(pos) = NAMES.iter().position(|&n| n == name) {
        Some(pos as u32 + 1)
    } else if let Some(offset) = name.strip_prefix("SIGRTMIN+") {
        offset
            .parse::<u32>()
            .ok()
            .map(|o| libc::SIGRTMIN() as u32 + o)
    } else {
        None
    };
    match number {
        Some(n) if (1..=libc::SIGRTMAX() as u32).contains(&n) && n != 9 && n != 19 => Ok(n),
        Some(n) => Err(format!(
            "signal {n} cannot be a trigger (valid: 1-64 except SIGKILL and SIGSTOP)"
        )),
        None => Err(format!(
            "unknown signal name {text:?} (e.g. SIGUSR2, USR2 or 12)"
        )),
    }
}

/// `SIGUSR2` for 12; `SIGRTMIN+N` for real-time signals.
pub fn name(number: u32) -> String {
    match NAMES.get((number as usize).wrapping_sub(1)) {
        Some(name) => (*name).to_owned(),
        None => format!("SIGRTMIN+{}", number as i32 - libc::SIGRTMIN()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_numbers() {
        assert_eq!(parse("SIGUSR2"), Ok(12));
        assert_eq!(parse("usr2"), Ok(12));
        assert_eq!(parse("12"), Ok(12));
        assert_eq!(parse("SIGURG"), Ok(23));
        assert_eq!(parse("SIGRTMIN+2"), Ok(libc::SIGRTMIN() as u32 + 2));
        assert!(
            parse("SIGKILL")
                .unwrap_err()
                .contains("cannot be a trigger")
        );
        assert!(parse("SIGFOO").unwrap_err().contains("SIGFOO"));
        assert_eq!(name(12), "SIGUSR2");
        assert_eq!(name(libc::SIGRTMIN() as u32 + 1), "SIGRTMIN+1");
    }
}
