//! The report as plain data: what sections produce and views render.
//!
//! Nothing here does I/O. Field names are the JSON field names; `None`
//! serializes as `null` ("unknown"), never as a missing key.

pub mod configuration;
pub mod custom;
pub mod freeze;
pub mod green_threads;
pub mod package;
pub mod processes;
pub mod threads;
pub mod time;

use serde::Serialize;

pub use self::{
    configuration::Configuration,
    custom::{Table, TextBlock},
    freeze::{Freeze, FreezeStatus},
    green_threads::{
        AsyncTask, CreatedBy, Goroutine, GoroutineFrame, Goroutines, GreenFrame, GreenThreads,
        Greenlet,
    },
    package::Package,
    processes::{ProcessEntry, Processes},
    threads::{FrameKind, KernelFrame, PythonRuntime, Thread, Threads, UserFrame},
    time::ReportTime,
};

/// One Guru Meditation Report for one process.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The process reported on.
    pub target: Target,
    /// What asked for the report.
    pub trigger: Trigger,
    /// UTC time the report was generated, RFC 3339 with microseconds.
    pub generated_at: ReportTime,
    /// Whether the target's cgroup was frozen for the capture; `None` when
    /// no freeze was asked for (the default).
    pub freeze: Option<Freeze>,
    /// Sections in report order; a failed section is kept with its error.
    pub sections: Vec<Section>,
}

/// The process a report is about.
///
/// A process in a container has two pids: the one the agent (on the host)
/// and the host's tools use, and the one it and its container's tools see
/// in its own pid namespace. Both are always given, equal when the process
/// shares the agent's namespace, so readers need no rule for absent
/// fields; `null` means unknown.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// Process id in the agent's pid namespace: the host's, when the agent
    /// runs on the host as it is meant to.
    pub pid: u32,
    /// Process id in the process's own pid namespace (the last `NSpid` of
    /// `/proc/PID/status`): what `ps` in its container shows.
    pub ns_pid: Option<u32>,
    /// Inode number of the process's pid namespace (`/proc/PID/ns/pid`), as
    /// `lsns` lists it.
    pub pid_namespace: Option<u64>,
    /// Full id of the container the process runs in, when one of its
    /// cgroups is named by a container runtime's convention (docker,
    /// podman, containerd, CRI-O, kubepods).
    pub container_id: Option<String>,
    /// The Kubernetes pod (namespace, name, uid) and container name the
    /// process runs in, from the kubelet's directories on the node.
    pub pod: Option<PodIdentity>,
    /// Process name (`comm`).
    pub comm: String,
    /// Executable path as the process sees it, if readable.
    pub exe: Option<String>,
}

/// The pod, and the container in it, a process runs in: what the report
/// header shows and what log pipelines call `k8s.namespace.name`,
/// `k8s.pod.name`, `k8s.pod.uid` and `k8s.container.name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodIdentity {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The pod's uid, as the kubelet names its directories.
    pub uid: String,
    /// The container's name in the pod, when the kubelet's links name it.
    pub container: Option<String>,
}

/// What caused a report: each kind carries only what it knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The trigger signal was generated for the target (observed in the
    /// kernel).
    Signal {
        /// The signal's name.
        signal: String,
        /// What became of the signal: `delivered`, `ignored`, `refused by
        /// the guard: ...` (the target would have died); `None` if unknown.
        delivery: Option<String>,
        /// Who sent it.
        requester: Requester,
    },
    /// The tag's trigger file was touched.
    File {
        /// The trigger file.
        file: String,
        /// Who touched it, when known (not with the inotify fallback).
        requester: Option<Requester>,
    },
    /// A one-shot request from the command line (`gmr-agent report` or
    /// `gmr-agent trigger`).
    Request {
        /// Who asked, when known.
        requester: Option<Requester>,
    },
}

impl Trigger {
    /// `signal`, `file` or `request`: the `kind` field of the formats.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Signal { .. } => "signal",
            Trigger::File { .. } => "file",
            Trigger::Request { .. } => "request",
        }
    }

    /// Who sent the signal, touched the file or made the request, when
    /// known.
    pub fn requester(&self) -> Option<&Requester> {
        match self {
            Trigger::Signal { requester, .. } => Some(requester),
            Trigger::File { requester, .. } | Trigger::Request { requester } => requester.as_ref(),
        }
    }
}

impl Serialize for Trigger {
    /// Serializes as `{"kind", "signal", "delivery", "file", "requester"}`,
    /// every field present and `null` where the kind has no such value, so
    /// readers need no rule for absent fields.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let (signal, delivery, file) = match self {
            Trigger::Signal {
                signal, delivery, ..
            } => (Some(signal), delivery.as_ref(), None),
            Trigger::File { file, .. } => (None, None, Some(file)),
            Trigger::Request { .. } => (None, None, None),
        };
        let mut out = serializer.serialize_struct("Trigger", 5)?;
        out.serialize_field("kind", self.kind())?;
        out.serialize_field("signal", &signal)?;
        out.serialize_field("delivery", &delivery)?;
        out.serialize_field("file", &file)?;
        out.serialize_field("requester", &self.requester())?;
        out.end()
    }
}

/// The process that asked for a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Requester {
    /// Its process id.
    pub pid: u32,
    /// Its real uid.
    pub uid: u32,
    /// Its thread name.
    pub comm: String,
}

/// One report section: a title and either its data or why it failed.
#[derive(Clone, Debug)]
pub struct Section {
    /// Title shown in the banner, e.g. `Threads`.
    pub title: String,
    /// The section's data, or the error that stopped it.
    pub body: Result<SectionData, String>,
}

impl Serialize for Section {
    /// Serializes as `{"title", "status": "ok"|"failed", "error", "data"}`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut out = serializer.serialize_struct("Section", 4)?;
        out.serialize_field("title", &self.title)?;
        let (status, error, data) = match &self.body {
            Ok(data) => ("ok", None, Some(data)),
            Err(error) => ("failed", Some(error), None),
        };
        out.serialize_field("status", status)?;
        out.serialize_field("error", &error)?;
        out.serialize_field("data", &data)?;
        out.end()
    }
}

/// The data of a section that succeeded.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum SectionData {
    /// The Package section (boxed: it is much larger than the others).
    Package(Box<Package>),
    /// The Threads section.
    Threads(Threads),
    /// The Green Threads section.
    GreenThreads(GreenThreads),
    /// The Green Threads section of a Go process.
    Goroutines(Goroutines),
    /// The Processes section.
    Processes(Processes),
    /// The Configuration section.
    Configuration(Configuration),
    /// A custom section shown as a table (the builtins).
    Table(Table),
    /// A custom section shown as lines of text (a file, a command).
    Text(TextBlock),
}
