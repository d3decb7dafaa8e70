//! CPython 3.12 (offsets from its `pycore_runtime.h`, `pycore_interp.h`,
//! `pycore_gil.h`, `cpython/pystate.h`, `pycore_frame.h`, `cpython/code.h`).

use super::{CodeLayout, CurrentFrame, FrameLayout, GilLayout, Layout, LineFormat, Position};

/// The 3.12 layout.
pub(super) fn layout() -> Layout {
    Layout {
        runtime_interpreters_head: 40,
        interp_next: 0,
        interp_threads_head: 72,
        tstate_next: 8,
        tstate_interp: 16,
        tstate_thread_id: 136,
        tstate_native_thread_id: Some(144),
        tstate_frame: CurrentFrame::ViaCFrame {
            cframe: 56,
            current_frame: 0,
        },
        frame: FrameLayout {
            previous: 8,
            code: 0,
            position: Position::PrevInstr(56),
            owner: Some(70),
            is_entry: None,
        },
        frame_object_iframe: Some(24),
        code: CodeLayout {
            filename: 112,
            name: 120,
            qualname: Some(128),
            firstlineno: 68,
            linetable: 136,
            line_format: LineFormat::Locations,
            code_adaptive: Some(192),
        },
        unicode: super::UNICODE_WITHOUT_WSTR,
        bytes_size: 16,
        bytes_data: 32,
        object_type: 8,
        gil: GilLayout::PerInterpreter {
            pointer: 384,
            locked: 16,
            holder: 8,
        },
    }
}
