//! The report as plain data: what sections produce and views render.
//!
//! Nothing here does I/O. Field names are the JSON field names; `None`
//! serializes as `null` ("unknown"), never as a missing key.

use serde::Serialize;

/// One Guru Meditation Report for one process.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The process reported on.
    pub target: Target,
    /// What asked for the report.
    pub trigger: Trigger,
    /// UTC time the report was generated, RFC 3339 with microseconds.
    pub generated_at: String,
    /// Sections in report order; a failed section is kept with its error.
    pub sections: Vec<Section>,
}

/// The process a report is about.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// Process id (in the agent's pid namespace).
    pub pid: u32,
    /// Process name (`comm`).
    pub comm: String,
    /// Executable path as the process sees it, if readable.
    pub exe: Option<String>,
}

/// What caused a report.
#[derive(Clone, Debug, Serialize)]
pub struct Trigger {
    /// `signal` (observed in the kernel) or `request` (`gmr-agent report`).
    pub kind: TriggerKind,
    /// Signal name, for signal triggers.
    pub signal: Option<String>,
    /// Who sent the signal or made the request, when known.
    pub requester: Option<Requester>,
}

/// The kinds of trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// The trigger signal was generated for the target.
    Signal,
    /// A one-shot request from the command line.
    Request,
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
    /// The Package section.
    Package(Package),
    /// The Threads section.
    Threads(Threads),
}

/// What is running: the executable and the host it runs on.
#[derive(Clone, Debug, Serialize)]
pub struct Package {
    /// Executable path as the process sees it (`/proc/PID/exe`).
    pub executable: Option<String>,
    /// True when the executable was deleted or replaced since it started.
    pub executable_deleted: bool,
    /// GNU build-id of the executable, hex.
    pub build_id: Option<String>,
    /// gmr's version.
    pub gmr_version: String,
    /// Kernel release (`uname -r`).
    pub kernel: String,
}

/// Every OS thread of the process.
#[derive(Clone, Debug, Serialize)]
pub struct Threads {
    /// One entry per thread, in the kernel's order (main thread first).
    pub threads: Vec<Thread>,
}

/// One OS thread with its stacks.
#[derive(Clone, Debug, Serialize)]
pub struct Thread {
    /// Thread id.
    pub tid: u32,
    /// Thread name.
    pub name: String,
    /// State letter and word, e.g. `S (sleeping)`.
    pub state: String,
    /// True when it was on a CPU during capture (registers may be a tick old).
    pub on_cpu: bool,
    /// Kernel frames, innermost first.
    pub kernel_stack: Vec<KernelFrame>,
    /// Why the kernel stack is missing, if it is.
    pub kernel_stack_note: Option<String>,
    /// User frames, innermost first (inlined frames expanded).
    pub user_stack: Vec<UserFrame>,
    /// Why the user stack ends early or is missing, if it does.
    pub user_stack_note: Option<String>,
}

/// One kernel frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KernelFrame {
    /// Return address (or pc for the innermost frame).
    pub address: u64,
    /// `symbol+0xoff`, when kallsyms knows it.
    pub function: Option<String>,
}

/// One user frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserFrame {
    /// Program counter (innermost) or return address.
    pub address: u64,
    /// Function name, demangled.
    pub function: Option<String>,
    /// Path of the mapped file holding the address.
    pub module: Option<String>,
    /// Offset of the address in that file's address space.
    pub module_offset: Option<u64>,
    /// Source file, when debug info has it.
    pub file: Option<String>,
    /// Source line, when debug info has it.
    pub line: Option<u32>,
    /// True for a frame that was inlined into the next one.
    pub inlined: bool,
}
