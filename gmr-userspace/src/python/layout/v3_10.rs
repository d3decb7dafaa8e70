//! CPython 3.10 (offsets from its `pycore_runtime.h`, `pycore_interp.h`,
//! `cpython/pystate.h`, `cpython/frameobject.h`, `cpython/code.h`).

use super::{CodeLayout, CurrentFrame, FrameLayout, GilLayout, Layout, LineFormat, Position};

/// The 3.10 layout.
pub(super) fn layout() -> Layout {
    Layout {
        runtime_interpreters_head: 32,
        interp_next: 0,
        interp_threads_head: 8,
        tstate_next: 8,
        tstate_interp: 16,
        tstate_thread_id: 176,
        tstate_native_thread_id: None,
        tstate_frame: CurrentFrame::Direct(24),
        frame: FrameLayout {
            previous: 24,
            code: 32,
            position: Position::LastiUnits(96),
            owner: None,
            is_entry: None,
        },
        frame_object_iframe: None,
        code: CodeLayout {
            filename: 104,
            name: 112,
            qualname: None,
            firstlineno: 40,
            linetable: 120,
            line_format: LineFormat::LineTable310,
            code_adaptive: None,
        },
        unicode: super::UNICODE_WITH_WSTR,
        bytes_size: 16,
        bytes_data: 32,
        object_type: 8,
        gil: GilLayout::InRuntime {
            locked: 368,
            holder: 360,
        },
    }
}
