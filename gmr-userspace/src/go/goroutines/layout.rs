//! Where the Go runtime keeps a goroutine's fields (`runtime.g`) and a
//! thread's id (`runtime.m`), and the function id of its wrappers, for
//! amd64: read from the executable's own DWARF when it has it
//! ([`super::dwarf_layout`]), otherwise from the table of its Go release
//! here ([`GLayout::choose`] picks and says which).
//!
//! Every offset in the tables was read from the DWARF of a binary built by
//! that release (`readelf --debug-dump=info`, the members of `runtime.g`,
//! `runtime.gobuf` and `runtime.m`; the tests compare each table with the
//! DWARF of every installed release), and is checked at read time against
//! every goroutine (a status outside the runtime's list, or an id of 0 on a
//! live goroutine, marks the read unreliable).

use super::dwarf_layout;

/// Why no layout could be found for an executable.
#[derive(Debug, thiserror::Error)]
#[error(
    "no goroutine layout for {version}: {dwarf}, and no table for that release (tables: Go 1.19 and 1.21 to 1.27 on amd64)"
)]
pub struct NoLayout {
    /// The Go release (`go1.20.14`).
    pub version: String,
    /// Why the executable's DWARF gave none.
    pub dwarf: String,
}

/// Byte offsets of the fields read, for one Go release range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GLayout {
    /// `g.stack.hi`: the top of the goroutine's stack.
    pub stack_hi: u64,
    /// `g.m`: the thread running it, or 0.
    pub m: u64,
    /// `g.sched.sp`, `g.sched.pc`: where a parked goroutine resumes.
    pub sched_sp: u64,
    /// See `sched_sp`.
    pub sched_pc: u64,
    /// `g.syscallsp`, `g.syscallpc`: where a goroutine in a system call
    /// left Go code.
    pub syscall_sp: u64,
    /// See `syscall_sp`.
    pub syscall_pc: u64,
    /// `g.atomicstatus` (u32).
    pub status: u64,
    /// `g.goid` (u64).
    pub goid: u64,
    /// `g.waitsince` (i64, `nanotime()` when it parked).
    pub waitsince: u64,
    /// `g.waitreason` (u8).
    pub waitreason: u64,
    /// `g.lockedm`: the thread it is locked to, or 0.
    pub lockedm: u64,
    /// `g.parentGoid` (Go 1.21 and later).
    pub parent_goid: Option<u64>,
    /// `g.gopc`: the `go` statement that created it.
    pub gopc: u64,
    /// `g.startpc`: the function it started in.
    pub startpc: u64,
    /// `m.procid`: the thread's OS id.
    pub m_procid: u64,
    /// `funcID_wrapper` (`abi.FuncIDWrapper`): the function id of the
    /// compiler's wrappers, which tracebacks leave out; it is the last of
    /// the runtime's function ids, whose list grew (counted in each
    /// release's `runtime/symtab.go` or `internal/abi/symtab.go`).
    pub wrapper_func_id: u8,
}

impl GLayout {
    /// Bytes of `runtime.g` read per goroutine: up to its last field read.
    pub fn g_size(&self) -> usize {
        (self.startpc + 8) as usize
    }

    /// The layout of executable `elf` (named `exe`, built by Go
    /// `version`, 1.`minor`): from its DWARF when it has one, else from
    /// the table of its release; with a note saying which (`layout: DWARF
    /// of /usr/bin/x`, `layout: table for go1.22`, and why the DWARF was
    /// not used when it is there but unusable).
    ///
    /// # Errors
    ///
    /// When neither the DWARF nor a table gives one.
    pub fn choose<'data, R: object::ReadRef<'data>>(
        elf: &object::File<'data, R>,
        exe: &str,
        version: &str,
        minor: u32,
    ) -> Result<(GLayout, String), NoLayout> {
        let table = GLayout::of(minor);
        let from_table = |why: Option<String>| {
            let note = match &why {
                None => format!("layout: table for go1.{minor}"),
                Some(why) => format!("layout: table for go1.{minor} ({why})"),
            };
            table.map(|layout| (layout, note)).ok_or_else(|| NoLayout {
                version: version.to_owned(),
                dwarf: why.unwrap_or_else(|| format!("{exe} has no DWARF")),
            })
        };
        match dwarf_layout::read(elf, table.map(|layout| layout.wrapper_func_id)) {
            Ok(Some(layout)) => Ok((layout, format!("layout: DWARF of {exe}"))),
            Ok(None) => from_table(None),
            Err(reason) => from_table(Some(format!("the DWARF of {exe} is unusable: {reason}"))),
        }
    }

    /// The layout of Go 1.`minor` on amd64; `None` for a release this
    /// reader has no table for.
    pub fn of(minor: u32) -> Option<GLayout> {
        // Go 1.19 (readelf of go1.19.8's runtime.g).
        const GO119: GLayout = GLayout {
            stack_hi: 8,
            m: 48,
            sched_sp: 56,
            sched_pc: 64,
            syscall_sp: 112,
            syscall_pc: 120,
            status: 144,
            goid: 152,
            waitsince: 168,
            waitreason: 176,
            lockedm: 232,
            parent_goid: None,
            gopc: 296,
            startpc: 312,
            m_procid: 72,
            wrapper_func_id: 21,
        };
        // Go 1.21 and 1.22 (readelf of go1.21.13 and go1.22.10).
        const GO121: GLayout = GLayout {
            lockedm: 208,
            parent_goid: Some(272),
            gopc: 280,
            startpc: 296,
            ..GO119
        };
        // Go 1.22 (one more function id: `corostart`).
        const GO122: GLayout = GLayout {
            wrapper_func_id: 22,
            ..GO121
        };
        // Go 1.23 and 1.24 (readelf of go1.23.9 and go1.24.11: `syscallbp`
        // added after `syscallpc`).
        const GO123: GLayout = GLayout {
            status: 152,
            goid: 160,
            waitsince: 176,
            waitreason: 184,
            lockedm: 216,
            parent_goid: Some(280),
            gopc: 288,
            startpc: 304,
            ..GO122
        };
        // Go 1.25 (readelf of go1.25.5: `gobuf.ret` removed, `m` shrank;
        // function ids `runFinalizers` and `runCleanups` replace `runfinq`).
        const GO125: GLayout = GLayout {
            syscall_sp: 104,
            syscall_pc: 112,
            m_procid: 64,
            wrapper_func_id: 23,
            ..GO121
        };
        // Go 1.26 and 1.27 (readelf of go1.26.6 and go1.27.3).
        const GO126: GLayout = GLayout {
            parent_goid: Some(280),
            gopc: 288,
            startpc: 304,
            ..GO125
        };
        match minor {
            19 => Some(GO119),
            21 => Some(GO121),
            22 => Some(GO122),
            23 | 24 => Some(GO123),
            25 => Some(GO125),
            26 | 27 => Some(GO126),
            _ => None,
        }
    }
}
