//! `gmr-agent check`: what this kernel and host allow gmr to do, probed for
//! real (programs are loaded and attached, a capture is taken), one line
//! per feature with what a missing one costs the user.

use serde::Serialize;

use crate::{
    capture::Capturer,
    kernel::{
        loader::{LoadOptions, SIGNAL_PROGRAM, load_object},
        offsets::running_kernel_offsets,
    },
    safety::guard::{GuardState, attach_guard},
    targets::cgroup::cgroup2_mount,
    trigger::ctime::ctime_tracepoints_present,
};

/// The outcome of one probe.
#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    /// What was probed.
    pub feature: &'static str,
    /// True when it works.
    pub ok: bool,
    /// What was found, or what is wrong.
    pub detail: String,
    /// What a missing feature costs the user (empty when it works).
    pub cost: &'static str,
    /// True when reports cannot work at all without it.
    pub essential: bool,
}

/// Runs every probe, in order.
pub fn run() -> Vec<Probe> {
    let mut probes = vec![
        probe("kernel", false, "", || {
            Ok(crate::sections::package::kernel_release())
        }),
        probe(
            "privileges",
            true,
            "nothing can be loaded: run as root",
            || match rustix::process::geteuid().as_raw() {
                0 => Ok("root".into()),
                uid => Err(format!("running as uid {uid}")),
            },
        ),
        probe(
            "btf",
            true,
            "struct offsets for the programs come from BTF: no report can be made",
            || {
                running_kernel_offsets()
                    .map(|_| "/sys/kernel/btf/vmlinux has every struct gmr reads".into())
                    .map_err(|e| e.to_string())
            },
        ),
        probe(
            "cgroup2",
            false,
            "nothing can be tagged: only `gmr-agent report --pid` works",
            || {
                cgroup2_mount()
                    .map(|p| format!("mounted at {}", p.display()))
                    .map_err(|e| format!("{e:#}"))
            },
        ),
        probe(
            "ctime tracepoints",
            false,
            "trigger files fall back to inotify: reports cannot say who touched the file",
            || {
                ctime_tracepoints_present()
                    .map(|()| "timestamp:ctime_* events in kernel BTF (Linux 6.13+)".into())
                    .map_err(|e| format!("{e:#}"))
            },
        ),
    ];
    probes.extend(program_probes());
    probes
}

/// Loads the real programs: the capture iterator (and a capture of this
/// process), then the signal tracepoint and the guard attached.
fn program_probes() -> Vec<Probe> {
    let (mut ebpf, guard_layout) = match load_object(LoadOptions {
        trigger_signal: libc::SIGUSR2 as u32,
        stack_cap: crate::capture::StackCap::DEFAULT,
    }) {
        Ok(loaded) => (loaded.ebpf, loaded.guard_layout),
        Err(e) => {
            let detail = format!("{e:#}");
            return vec![
                Probe {
                    feature: "capture iterator",
                    ok: false,
                    detail: detail.clone(),
                    cost: CAPTURE_COST,
                    essential: true,
                },
                Probe {
                    feature: "signal trigger",
                    ok: false,
                    detail: detail.clone(),
                    cost: SIGNAL_COST,
                    essential: false,
                },
                Probe {
                    feature: "lsm signal guard",
                    ok: false,
                    detail,
                    cost: GUARD_COST,
                    essential: false,
                },
            ];
        }
    };
    let capture = probe("capture iterator", true, CAPTURE_COST, || {
        let mut capturer = Capturer::new(&mut ebpf, crate::capture::StackCap::DEFAULT)
            .map_err(|e| format!("{e:#}"))?;
        let capture = capturer
            .capture(std::process::id())
            .map_err(|e| format!("{e:#}"))?;
        let with_stack = capture
            .threads
            .iter()
            .filter(|t| t.user_stack.page_valid.first() == Some(&true))
            .count();
        Ok(format!(
            "iter.s/task captured {} thread(s) of this process, {with_stack} with user stacks",
            capture.threads.len()
        ))
    });
    let signal = probe("signal trigger", false, SIGNAL_COST, || {
        let program: &mut aya::programs::RawTracePoint = ebpf
            .program_mut(SIGNAL_PROGRAM)
            .ok_or("program missing")?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| e.to_string())?;
        program.load().map_err(|e| e.to_string())?;
        program
            .attach("signal_generate")
            .map_err(|e| e.to_string())?;
        Ok("raw tracepoint signal_generate loaded and attached".into())
    });
    let guard = probe("lsm signal guard", false, GUARD_COST, || {
        match attach_guard(&mut ebpf, libc::SIGUSR2 as u32, &guard_layout) {
            GuardState::Active => Ok("LSM task_kill program attached, bpf LSM active: SIGUSR2 is refused (and reported) for tagged processes it would kill".into()),
            state => Err(state.to_string()),
        }
    });
    vec![capture, signal, guard]
}

const CAPTURE_COST: &str = "no stacks can be captured: no report can be made";
const SIGNAL_COST: &str =
    "the trigger signal is not noticed: use trigger files or `gmr-agent trigger`";
const GUARD_COST: &str = "the trigger signal cannot be refused: a target without a handler for it dies; use trigger files, `gmr-agent trigger`, or a signal ignored by default (SIGURG)";

/// Runs one probe.
fn probe(
    feature: &'static str,
    essential: bool,
    cost: &'static str,
    check: impl FnOnce() -> Result<String, String>,
) -> Probe {
    match check() {
        Ok(detail) => Probe {
            feature,
            ok: true,
            detail,
            cost: "",
            essential,
        },
        Err(detail) => Probe {
            feature,
            ok: false,
            detail,
            cost,
            essential,
        },
    }
}

/// One line per probe: `ok`/`missing`, the feature, what was found, the cost.
pub fn render_text(probes: &[Probe]) -> String {
    let mut out = String::new();
    for p in probes {
        let status = if p.ok { "ok     " } else { "missing" };
        out.push_str(&format!("{status}  {:<18} {}\n", p.feature, p.detail));
        if !p.ok && !p.cost.is_empty() {
            out.push_str(&format!("         {:<18} → {}\n", "", p.cost));
        }
    }
    out
}

/// True when every essential probe passed (reports can be made).
pub fn reports_work(probes: &[Probe]) -> bool {
    probes.iter().all(|p| p.ok || !p.essential)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_this_host_for_real() {
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!("SKIP: probing loads eBPF programs, which needs root");
            return;
        }
        let probes = run();
        let text = render_text(&probes);
        let find = |name: &str| probes.iter().find(|p| p.feature == name).unwrap();
        assert!(find("capture iterator").ok, "{text}");
        assert!(
            find("capture iterator").detail.contains("with user stacks"),
            "{text}"
        );
        assert!(find("btf").ok && find("signal trigger").ok, "{text}");
        let lsm_loads =
            aya::sys::is_program_supported(aya::programs::Lsm::PROGRAM_TYPE).unwrap_or(false);
        let bpf_active = crate::safety::guard::bpf_lsm_active().unwrap_or(false);
        let guard = find("lsm signal guard");
        assert_eq!(guard.ok, lsm_loads && bpf_active, "{text}");
        if !guard.ok {
            assert!(
                text.contains("→ the trigger signal cannot be refused"),
                "{text}"
            );
        }
        assert!(reports_work(&probes));
    }

    #[test]
    fn a_missing_essential_feature_means_no_reports() {
        let probes = [
            probe("btf", true, "cost", || Err("gone".into())),
            probe("x", false, "c", || Ok("fine".into())),
        ];
        assert!(!reports_work(&probes));
        assert!(render_text(&probes).starts_with("missing  btf"));
    }
}
