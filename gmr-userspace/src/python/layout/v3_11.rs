//! CPython 3.11 (offsets from its `pycore_runtime.h`, `pycore_interp.h`,
//! `cpython/pystate.h`, `pycore_frame.h`, `cpython/code.h`).

use super::{CodeLayout, CurrentFrame, FrameLayout, GilLayout, Layout, LineFormat, Position};

/// The 3.11 layout.
pub(super) fn layout() -> Layout {
    Layout {
        runtime_interpreters_head: 40,
        interp_next: 0,
        interp_threads_head: 16,
        tstate_next: 8,
        tstate_interp: 16,
        tstate_thread_id: 152,
        tstate_native_thread_id: Some(160),
        tstate_frame: CurrentFrame::ViaCFrame {
            cframe: 56,
            current_frame: 8,
        },
        frame: FrameLayout {
            previous: 48,
            code: 32,
            position: Position::PrevInstr(56),
            owner: Some(69),
            is_entry: Some(68),
        },
        frame_object_iframe: Some(24),
        code: CodeLayout {
            filename: 112,
            name: 120,
            qualname: Some(128),
            firstlineno: 72,
            linetable: 136,
            line_format: LineFormat::Locations,
            code_adaptive: Some(184),
        },
        unicode: super::UNICODE_WITH_WSTR,
        bytes_size: 16,
        bytes_data: 32,
        object_type: 8,
        gil: GilLayout::InRuntime {
            locked: 376,
            holder: 368,
        },
    }
}
