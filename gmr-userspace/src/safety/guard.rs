//! The signal guard: attaches the `task_kill` LSM program where the kernel
//! lets it refuse signals, or says why it cannot.
//!
//! The program refuses the trigger signal to a tagged process that would die
//! of it and reports the trigger instead (see `gmr-ebpf`'s `guard.rs`). It
//! needs a kernel with the BPF LSM built in *and* active (`bpf` in
//! `/sys/kernel/security/lsm`: an LSM program attaches without error while
//! the BPF LSM is inactive, and then never runs), and one that accepts LSM
//! programs (they need BPF trampolines). Anything missing leaves the agent
//! observing only, which [`GuardState::Unavailable`] explains.

use std::fmt;

use aya::{
    Btf, Ebpf,
    programs::{Lsm, ProgramError},
};

use crate::{
    kernel::{btf::BtfError, loader::GUARD_PROGRAM},
    safety::disposition::DefaultAction,
    safety::signal::name as signal_name,
};

/// Where the kernel lists its active LSMs.
const ACTIVE_LSMS: &str = "/sys/kernel/security/lsm";

/// Whether the guard protects tagged processes from the trigger signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardState {
    /// Attached: the trigger signal is refused to a tagged process that
    /// leaves it at its (harmful) default, and reported.
    Active,
    /// Not attached: the trigger signal's default action is harmless.
    NotNeeded,
    /// Not attached, for this reason: the trigger signal cannot be refused.
    Unavailable(String),
}

impl GuardState {
    /// True when the guard refuses the trigger signal.
    pub fn is_active(&self) -> bool {
        *self == Self::Active
    }
}

impl fmt::Display for GuardState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Active => f.write_str("active: LSM task_kill program attached"),
            Self::NotNeeded => f.write_str("not needed: the trigger signal is harmless by default"),
            Self::Unavailable(reason) => write!(f, "unavailable: {reason}"),
        }
    }
}

/// Attaches the guard for `signal` if its default action harms a process
/// and the kernel allows it. `layout` tells whether the loader found the
/// guard's offsets in BTF. Never fails: a guard that cannot run is a
/// [`GuardState::Unavailable`].
pub fn attach_guard(ebpf: &mut Ebpf, signal: u32, layout: &Result<(), BtfError>) -> GuardState {
    if !DefaultAction::of(signal).harms() {
        return GuardState::NotNeeded;
    }
    match try_attach(ebpf, layout) {
        Ok(()) => GuardState::Active,
        Err(reason) => GuardState::Unavailable(reason),
    }
}

/// The checks and the load, in order; the first failure's reason.
fn try_attach(ebpf: &mut Ebpf, layout: &Result<(), BtfError>) -> Result<(), String> {
    if let Err(e) = layout {
        return Err(format!(
            "cannot read signal dispositions on this kernel: {e}"
        ));
    }
    if !bpf_lsm_active()? {
        return Err(format!(
            "the BPF LSM is not active ({ACTIVE_LSMS} lacks \"bpf\"; boot with lsm=...,bpf)"
        ));
    }
    let program: &mut Lsm = ebpf
        .program_mut(GUARD_PROGRAM)
        .ok_or("the guard program is missing from the eBPF object")?
        .try_into()
        .map_err(|e| format!("{e}"))?;
    let btf = Btf::from_sys_fs().map_err(|e| format!("reading kernel BTF: {e}"))?;
    program
        .load("task_kill", &btf)
        .map_err(|e| format!("the kernel refused the LSM program: {}", load_error(&e)))?;
    program
        .attach()
        .map_err(|e| format!("attaching the LSM program: {e}"))?;
    Ok(())
}

/// True when `bpf` is among the active LSMs; an error when that cannot be
/// read (then an attached program might never run, so it is not trusted).
pub fn bpf_lsm_active() -> Result<bool, String> {
    let lsms = std::fs::read_to_string(ACTIVE_LSMS).map_err(|e| {
        format!(
            "cannot tell whether the BPF LSM is active: {ACTIVE_LSMS}: {e} (is securityfs mounted?)"
        )
    })?;
    Ok(lsms.trim().split(',').any(|lsm| lsm == "bpf"))
}

/// A load error in one line: the errno, and the verifier's last words when
/// it said any.
fn load_error(error: &ProgramError) -> String {
    match error {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            match log.trim().lines().last() {
                Some(last) => format!("{io_error} (verifier: {last})"),
                None => io_error.to_string(),
            }
        }
        other => other.to_string(),
    }
}

/// The one warning the agent logs when the guard does not protect tagged
/// processes from `signal`.
pub fn unguarded_warning(signal: u32, reason: &str) -> String {
    let name = signal_name(signal);
    format!(
        "signal guard unavailable ({reason}): {name} cannot be refused, so it kills a tagged process that neither handles nor ignores it; \
         ask for such reports with `gmr-agent trigger`, the tag's trigger file, or a trigger signal ignored by default (--signal SIGURG)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loading programs needs root; says SKIP otherwise.
    fn running_as_root() -> bool {
        let root = rustix::process::geteuid().as_raw() == 0;
        if !root {
            eprintln!("SKIP: loading eBPF programs needs root");
        }
        root
    }

    #[test]
    fn a_harmless_trigger_signal_needs_no_guard() {
        if !running_as_root() {
            return;
        }
        let mut ebpf = crate::kernel::loader::load(crate::kernel::loader::LoadOptions {
            trigger_signal: libc::SIGURG as u32,
            stack_cap: crate::capture::StackCap::DEFAULT,
        })
        .unwrap();
        assert_eq!(
            attach_guard(&mut ebpf, libc::SIGURG as u32, &Ok(())),
            GuardState::NotNeeded
        );
    }

    #[test]
    fn the_guard_attaches_exactly_where_lsm_programs_load_and_bpf_is_active() {
        if !running_as_root() {
            return;
        }
        let loaded = crate::kernel::loader::load_object(crate::kernel::loader::LoadOptions {
            trigger_signal: libc::SIGUSR2 as u32,
            stack_cap: crate::capture::StackCap::DEFAULT,
        })
        .unwrap();
        assert!(
            loaded.guard_layout.is_ok(),
            "{:?}",
            loaded.guard_layout.err()
        );
        let mut ebpf = loaded.ebpf;
        let state = attach_guard(&mut ebpf, libc::SIGUSR2 as u32, &loaded.guard_layout);
        let lsm_loads = aya::sys::is_program_supported(Lsm::PROGRAM_TYPE).unwrap_or(false);
        let active = bpf_lsm_active().unwrap_or(false);
        assert_eq!(state.is_active(), lsm_loads && active, "{state}");
        if !state.is_active() {
            let warning = unguarded_warning(libc::SIGUSR2 as u32, "x");
            assert!(warning.contains("SIGUSR2 cannot be refused"), "{warning}");
        }
    }

    #[test]
    fn a_kernel_without_the_offsets_gets_no_guard() {
        if !running_as_root() {
            return;
        }
        let mut ebpf = crate::kernel::loader::load(crate::kernel::loader::LoadOptions {
            trigger_signal: libc::SIGUSR2 as u32,
            stack_cap: crate::capture::StackCap::DEFAULT,
        })
        .unwrap();
        let missing = Err(crate::kernel::btf::Btf::parse(b"nope").err().unwrap());
        let state = attach_guard(&mut ebpf, libc::SIGUSR2 as u32, &missing);
        assert!(
            matches!(&state, GuardState::Unavailable(r) if r.contains("cannot read signal dispositions")),
            "{state}"
        );
    }
}
