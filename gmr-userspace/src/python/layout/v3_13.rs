//! CPython 3.13: offsets read from the process's own `_Py_DebugOffsets`,
//! the table 3.13 keeps at the start of `_PyRuntime` for out-of-process
//! tools (`Include/internal/pycore_runtime.h`).

use super::{
    CodeLayout, CurrentFrame, FrameLayout, GilLayout, Layout, LayoutError, LineFormat, Position,
    UnicodeLayout,
};
use crate::proc::memory::ProcessMemory;
use crate::python::PythonVersion;

/// `_Py_DebugOffsets.cookie`.
const COOKIE: &[u8; 8] = b"xdebugpy";
/// `u64` fields after the cookie in the 3.13 table.
const FIELDS: usize = 72;

/// Indexes of the fields used, counted in `u64`s after the cookie, in the
/// order the 3.13 header declares them.
mod index {
    pub const VERSION: usize = 0;
    pub const FREE_THREADED: usize = 1;
    pub const RUNTIME_INTERPRETERS_HEAD: usize = 4;
    pub const INTERP_NEXT: usize = 7;
    pub const INTERP_THREADS_HEAD: usize = 8;
    pub const INTERP_CEVAL_GIL: usize = 13;
    pub const INTERP_GIL: usize = 14;
    pub const GIL_LOCKED: usize = 16;
    pub const GIL_HOLDER: usize = 17;
    pub const TSTATE_NEXT: usize = 20;
    pub const TSTATE_INTERP: usize = 21;
    pub const TSTATE_CURRENT_FRAME: usize = 22;
    pub const TSTATE_THREAD_ID: usize = 23;
    pub const TSTATE_NATIVE_THREAD_ID: usize = 24;
    pub const FRAME_PREVIOUS: usize = 28;
    pub const FRAME_EXECUTABLE: usize = 29;
    pub const FRAME_INSTR_PTR: usize = 30;
    pub const FRAME_OWNER: usize = 32;
    pub const CODE_FILENAME: usize = 34;
    pub const CODE_NAME: usize = 35;
    pub const CODE_QUALNAME: usize = 36;
    pub const CODE_LINETABLE: usize = 37;
    pub const CODE_FIRSTLINENO: usize = 38;
    pub const CODE_ADAPTIVE: usize = 42;
    pub const OBJECT_TYPE: usize = 44;
    pub const BYTES_SIZE: usize = 64;
    pub const BYTES_DATA: usize = 65;
    pub const UNICODE_STATE: usize = 67;
    pub const UNICODE_LENGTH: usize = 68;
    pub const UNICODE_ASCII_SIZE: usize = 69;
}

/// `PyCompactUnicodeObject` adds `utf8_length` and `utf8` to
/// `PyASCIIObject`.
const COMPACT_EXTRA: u64 = 16;
/// `PyFrameObject.f_frame`, which the debug offsets do not list; unchanged
/// since 3.11 (`PyObject_HEAD`, `f_back`, `f_frame`).
const FRAME_OBJECT_IFRAME: u64 = 24;

/// Reads the layout from the `_Py_DebugOffsets` at `runtime`.
///
/// # Errors
///
/// When the table cannot be read, has no cookie, is for another version
/// than `version`, or describes a free-threaded build.
pub(super) fn layout(
    memory: &ProcessMemory,
    runtime: u64,
    version: PythonVersion,
) -> Result<Layout, LayoutError> {
    let bytes = memory.read_bytes(runtime, COOKIE.len() + FIELDS * 8)?;
    let (cookie, fields) = bytes.split_at(COOKIE.len());
    if cookie != COOKIE {
        return Err(LayoutError::DebugOffsets(format!(
            "no cookie at {runtime:#x} (found {cookie:02x?})"
        )));
    }
    let fields = fields
        .chunks_exact(8)
        .map(|f| u64::from_le_bytes(f.try_into().expect("8-byte chunk")))
        .collect::<Vec<_>>();
    parse(&fields, version)
}

/// The layout from the table's fields (after the cookie).
fn parse(fields: &[u64], version: PythonVersion) -> Result<Layout, LayoutError> {
    let f = |i: usize| fields[i];
    let table_version = PythonVersion::from_hex(f(index::VERSION) as u32);
    if (table_version.major, table_version.minor) != (version.major, version.minor) {
        return Err(LayoutError::DebugOffsets(format!(
            "table is for Python {table_version}, the binary is {version}"
        )));
    }
    // The table gives `locked` and `last_holder` as offsets into the
    // interpreter's own `_gil`; `ceval.gil` may point to another
    // interpreter's, so keep them relative to the GIL struct.
    let in_gil = |i: usize| {
        f(i).checked_sub(f(index::INTERP_GIL)).ok_or_else(|| {
            LayoutError::DebugOffsets(format!(
                "GIL field at {} lies before the GIL at {}",
                f(i),
                f(index::INTERP_GIL)
            ))
        })
    };
    if f(index::FREE_THREADED) != 0 {
        return Err(LayoutError::DebugOffsets(
            "free-threaded builds are not supported".to_owned(),
        ));
    }
    Ok(Layout {
        runtime_interpreters_head: f(index::RUNTIME_INTERPRETERS_HEAD),
        interp_next: f(index::INTERP_NEXT),
        interp_threads_head: f(index::INTERP_THREADS_HEAD),
        tstate_next: f(index::TSTATE_NEXT),
        tstate_interp: f(index::TSTATE_INTERP),
        tstate_thread_id: f(index::TSTATE_THREAD_ID),
        tstate_native_thread_id: Some(f(index::TSTATE_NATIVE_THREAD_ID)),
        tstate_frame: CurrentFrame::Direct(f(index::TSTATE_CURRENT_FRAME)),
        frame: FrameLayout {
            previous: f(index::FRAME_PREVIOUS),
            code: f(index::FRAME_EXECUTABLE),
            position: Position::InstrPtr(f(index::FRAME_INSTR_PTR)),
            owner: Some(f(index::FRAME_OWNER)),
            is_entry: None,
        },
        frame_object_iframe: Some(FRAME_OBJECT_IFRAME),
        code: CodeLayout {
            filename: f(index::CODE_FILENAME),
            name: f(index::CODE_NAME),
            qualname: Some(f(index::CODE_QUALNAME)),
            firstlineno: f(index::CODE_FIRSTLINENO),
            linetable: f(index::CODE_LINETABLE),
            line_format: LineFormat::Locations,
            code_adaptive: Some(f(index::CODE_ADAPTIVE)),
        },
        unicode: UnicodeLayout {
            length: f(index::UNICODE_LENGTH),
            state: f(index::UNICODE_STATE),
            ascii_size: f(index::UNICODE_ASCII_SIZE),
            compact_size: f(index::UNICODE_ASCII_SIZE) + COMPACT_EXTRA,
        },
        bytes_size: f(index::BYTES_SIZE),
        bytes_data: f(index::BYTES_DATA),
        object_type: f(index::OBJECT_TYPE),
        gil: GilLayout::PerInterpreter {
            pointer: f(index::INTERP_CEVAL_GIL),
            locked: in_gil(index::GIL_LOCKED)?,
            holder: in_gil(index::GIL_HOLDER)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::{FIELDS, index, parse};
    use crate::python::PythonVersion;
    use crate::python::layout::{CurrentFrame, GilLayout, LayoutError};

    fn table() -> Vec<u64> {
        let mut fields = vec![0; FIELDS];
        fields[index::VERSION] = 0x030d_00f0;
        fields[index::RUNTIME_INTERPRETERS_HEAD] = 632;
        fields[index::TSTATE_CURRENT_FRAME] = 72;
        fields[index::UNICODE_ASCII_SIZE] = 40;
        fields[index::INTERP_GIL] = 7000;
        fields[index::GIL_HOLDER] = 7008;
        fields[index::GIL_LOCKED] = 7016;
        fields
    }

    #[test]
    fn reads_fields_in_header_order() {
        let layout = parse(&table(), PythonVersion::new(3, 13, Some(0))).expect("layout");
        assert_eq!(layout.runtime_interpreters_head, 632);
        assert_eq!(layout.tstate_frame, CurrentFrame::Direct(72));
        assert_eq!(layout.unicode.compact_size, 56);
        assert_eq!(
            layout.gil,
            GilLayout::PerInterpreter {
                pointer: 0,
                locked: 16,
                holder: 8
            }
        );
    }

    #[test]
    fn refuses_other_versions_and_free_threading() {
        let error = parse(&table(), PythonVersion::new(3, 14, Some(0))).unwrap_err();
        assert!(
            matches!(error, LayoutError::DebugOffsets(ref m) if m.contains("3.13")),
            "{error}"
        );
        let mut free = table();
        free[index::FREE_THREADED] = 1;
        let error = parse(&free, PythonVersion::new(3, 13, Some(0))).unwrap_err();
        assert!(error.to_string().contains("free-threaded"), "{error}");
    }
}
