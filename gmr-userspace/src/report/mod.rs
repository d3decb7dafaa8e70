//! Builds one report: capture → unwind → symbolize → sections.
//!
//! The [`Reporter`] owns everything that makes warm reports fast (the
//! capture program, parsed modules, the symbolizer's caches), so the agent
//! keeps one and reuses it. It is not `Sync`: reports are made one at a time,
//! which the capture ring buffer requires anyway, and not `Send` either
//! (blazesym's caches), so it is made on the thread that uses it.

pub mod stage_times;

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use crate::{
    capture::Capturer,
    config::Tag,
    freeze,
    kernel::kallsyms::Loading,
    model::{Report, ReportTime, SectionData, Target, Trigger},
    proc,
    proc::pid_namespace::NamespacePid,
    report::stage_times::StageTimes,
    sections::{
        configuration,
        context::ReportContext,
        custom::{self, CustomSection, CustomSource},
        deadline::{PendingSection, spawn_section},
        green_threads,
        package::{self, PackageDb},
        processes, python_stacks, section, threads,
    },
    symbolize::Symbolizer,
    targets::{self, kubernetes::KubeletPaths},
    unwind::modules::ModuleCache,
};

/// What a report holds beyond the standard sections: set per tag.
#[derive(Clone, Debug, Default)]
pub struct ReportPlan {
    /// More files for the Configuration section.
    pub config_files: Vec<PathBuf>,
    /// Custom sections, in report order after the standard ones.
    pub sections: Vec<CustomSection>,
    /// Freeze the process's cgroup for the capture (see [`crate::freeze`]).
    pub freeze: bool,
    /// Where the kubelet's directories are, to name the process's pod.
    pub kubelet: KubeletPaths,
}

impl ReportPlan {
    /// The plan for processes of `tag` on a node whose kubelet keeps its
    /// directories at `kubelet`.
    pub fn for_tag(tag: &Tag, kubelet: &KubeletPaths) -> Self {
        Self {
            config_files: tag.config_files.clone(),
            sections: tag.sections.clone(),
            freeze: tag.freeze,
            kubelet: kubelet.clone(),
        }
    }
}

/// Makes reports.
pub struct Reporter {
    capturer: Capturer,
    /// Shared with the Package section's thread, which may outlive a
    /// report that gave up waiting for it.
    packages: Arc<Mutex<PackageDb>>,
    modules: ModuleCache,
    symbolizer: Symbolizer,
    stages: StageTimes,
}

impl Reporter {
    /// A reporter capturing with `capturer`, with empty caches but the
    /// kernel's symbols, which `kernel_symbols` is reading.
    pub fn new(capturer: Capturer, kernel_symbols: Loading) -> Self {
        Self::with_symbolizer(capturer, Symbolizer::with_kernel_symbols(kernel_symbols))
    }

    /// [`Self::new`] with a symbolizer made (and maybe prepared) earlier.
    pub fn with_symbolizer(capturer: Capturer, symbolizer: Symbolizer) -> Self {
        Self {
            capturer,
            packages: Arc::new(Mutex::new(PackageDb::new())),
            modules: ModuleCache::new(),
            symbolizer,
            stages: StageTimes::default(),
        }
    }

    /// Drops what the caches hold (parsed debug info, module maps,
    /// package answers): the next report builds them again. The kernel's
    /// symbols, compact, stay.
    pub fn drop_caches(&mut self) {
        // A new cache rather than a cleared one: a late Package thread may
        // still hold the old one.
        self.packages = Arc::new(Mutex::new(PackageDb::new()));
        self.modules = ModuleCache::new();
        self.symbolizer.drop_files();
    }

    /// Waits until the kernel's symbols are read (they are read in the
    /// background from the start).
    pub fn load_kernel_symbols(&self) {
        self.symbolizer.load_kernel_symbols();
    }

    /// How long each stage of the last report took.
    pub fn last_stages(&self) -> StageTimes {
        self.stages
    }

    /// Makes the report for `pid`, in oslo's section order (Package,
    /// Threads, Processes, Configuration), then the plan's custom sections.
    /// Never fails as a whole: a section that cannot be made says why
    /// inside the report.
    pub fn report(&mut self, pid: u32, trigger: Trigger, plan: &ReportPlan) -> Report {
        let generated_at = ReportTime::now();
        let mut stages = StageTimes::default();
        // Capture first, as close to the trigger as possible; only the
        // capture runs frozen, everything after it runs thawed.
        let capturer = &mut self.capturer;
        let (capture, freeze) = StageTimes::time(&mut stages.capture, || {
            if plan.freeze {
                let (capture, freeze) = freeze::frozen_capture(pid, || capturer.capture(pid));
                (capture, Some(freeze))
            } else {
                (capturer.capture(pid), None)
            }
        });
        // What several sections need (the memory map, the CPython in it)
        // is read once, right after the capture.
        let captured = Instant::now();
        let context = Arc::new(StageTimes::time(&mut stages.modules, || {
            ReportContext::read(pid)
        }));
        // The Python stacks next, before anything else runs, so they
        // describe the moment of the native capture as nearly as they can.
        let python = python_stacks::read_python(&context, captured);
        // Every section but Threads runs meanwhile on its own thread, each
        // with a deadline; Threads needs the reporter's caches, which stay
        // on this thread.
        let packages = Arc::clone(&self.packages);
        let package = spawn_section(package::TITLE, PACKAGE_BUDGET, &context, move |context| {
            // A Package section still running from a late report holds
            // the lock; this one waits for it within its own deadline.
            let mut packages = packages.lock().unwrap_or_else(PoisonError::into_inner);
            package::package(context.pid, &mut packages).map(|p| SectionData::Package(Box::new(p)))
        });
        let green_threads = green_threads::applies(&context).then(|| {
            spawn_section(
                green_threads::TITLE,
                green_threads::BUDGET,
                &context,
                green_threads::generate,
            )
        });
        let processes = spawn_section(processes::TITLE, SECTION_BUDGET, &context, |context| {
            processes::processes(context.pid).map(SectionData::Processes)
        });
        let files = plan.config_files.clone();
        let packages = Arc::clone(&self.packages);
        let configuration = spawn_section(
            configuration::TITLE,
            SECTION_BUDGET,
            &context,
            move |context| {
                configuration::configuration(context, &files, &packages)
                    .map(SectionData::Configuration)
            },
        );
        let custom: Vec<_> = plan
            .sections
            .iter()
            .map(|s| {
                let source = s.source.clone();
                spawn_section(&s.title, custom_budget(&source), &context, move |context| {
                    custom::generate(&source, context.pid)
                })
            })
            .collect();
        let threads = section(threads::TITLE, || {
            let capture = capture.map_err(|e| format!("{e:#}"))?;
            Ok(SectionData::Threads(match &context.maps {
                Ok(maps) => {
                    let modules = StageTimes::time(&mut stages.modules, || {
                        self.modules.modules_in(pid, maps)
                    });
                    threads::threads(&capture, python, &modules, &self.symbolizer, &mut stages)
                }
                Err(e) => threads::threads_without_modules(
                    &capture,
                    python,
                    &self.symbolizer,
                    &e.to_string(),
                    &mut stages,
                ),
            }))
        });
        let sections = StageTimes::time(&mut stages.sections, || {
            let mut sections = vec![package.finish(), threads];
            sections.extend(green_threads.map(PendingSection::finish));
            sections.extend([processes.finish(), configuration.finish()]);
            sections.extend(custom.into_iter().map(PendingSection::finish));
            sections
        });
        self.stages = stages;
        Report {
            target: target(pid, &plan.kubelet),
            trigger,
            generated_at,
            freeze,
            sections,
        }
    }
}

/// How long a section that reads /proc and files may take.
const SECTION_BUDGET: Duration = Duration::from_secs(10);

/// How long Package may take: its first use in an agent searches every
/// dpkg list of the target's root, which on a large, busy host takes
/// seconds; later reports answer from the cache.
const PACKAGE_BUDGET: Duration = Duration::from_secs(30);

/// A custom command gets its own timeout plus time to be killed and read.
fn custom_budget(source: &CustomSource) -> Duration {
    match source {
        CustomSource::Command { timeout, .. } => *timeout + Duration::from_secs(2),
        _ => SECTION_BUDGET,
    }
}

/// The target's pids, container, pod, name and executable, as far as
/// /proc and the kubelet's directories tell.
fn target(pid: u32, kubelet: &KubeletPaths) -> Target {
    let comm = proc::files::comm(pid);
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let NamespacePid { ns_pid, namespace } = NamespacePid::read(pid);
    Target {
        pid,
        ns_pid,
        pid_namespace: namespace,
        container_id: targets::container_of_process(pid),
        pod: targets::kubernetes::pod_of_process(pid, kubelet),
        comm,
        exe,
    }
}
