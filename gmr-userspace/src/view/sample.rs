//! A sample report shared by the view tests: a signal trigger, a Package
//! section, a failed section, and a Threads section with every frame shape.

use crate::model::ReportTime;
use crate::model::{
    FrameKind, KernelFrame, Package, Report, Requester, Section, SectionData, Target, Thread,
    Threads, Trigger, UserFrame,
};

/// Sample report: a signal trigger, a Package section, a failed
/// section, and a Threads section exercising every frame shape.
pub fn sample_report() -> Report {
    Report {
        target: Target {
            pid: 8675,
            ns_pid: Some(8675),
            pid_namespace: Some(4_026_531_836),
            container_id: None,
            pod: None,
            comm: "mogan-api".to_owned(),
            exe: Some("/usr/bin/python3.12".to_owned()),
        },
        trigger: Trigger::Signal {
            signal: "SIGUSR2".to_owned(),
            delivery: None,
            requester: Requester {
                pid: 4242,
                uid: 1000,
                comm: "kill".to_owned(),
            },
        },
        // date -u -d @1795715326 → Thu Nov 26 17:48:46 UTC 2026
        generated_at: ReportTime::from(
            std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_795_715_326_123_456),
        ),
        freeze: None,
        sections: vec![
            Section {
                title: "Package".to_owned(),
                body: Ok(SectionData::Package(Box::new(Package {
                    executable: Some("/usr/bin/python3.12".to_owned()),
                    executable_deleted: false,
                    build_id: Some("0123abcd".to_owned()),
                    gmr_version: "0.1.0".to_owned(),
                    kernel: "6.18.0".to_owned(),
                    ..Package::default()
                }))),
            },
            Section {
                title: "Open Files".to_owned(),
                body: Err("cannot read /proc/8675/fd: permission denied".to_owned()),
            },
            Section {
                title: "Threads".to_owned(),
                body: Ok(SectionData::Threads(Threads {
                    threads: vec![
                        Thread {
                            tid: 8675,
                            ns_tid: Some(8675),
                            name: "mogan-api".to_owned(),
                            state: "S (sleeping)".to_owned(),
                            on_cpu: false,
                            kernel_stack: vec![
                                KernelFrame {
                                    address: 0xffff_ffff_8123_4567,
                                    function: Some("do_epoll_wait+0x4b8".to_owned()),
                                },
                                KernelFrame {
                                    address: 0xffff_ffff_8100_0abc,
                                    function: None,
                                },
                            ],
                            user_stack: vec![
                                UserFrame {
                                    kind: FrameKind::Native,
                                    address: 0x7f3a_0001_2345,
                                    function: Some("epoll_wait".to_owned()),
                                    module: Some("/usr/lib/libc.so.6".to_owned()),
                                    module_offset: Some(0x12_2345),
                                    file: Some("epoll_wait.c".to_owned()),
                                    line: Some(30),
                                    inlined: false,
                                    tail_call: false,
                                    source: None,
                                },
                                UserFrame {
                                    kind: FrameKind::Native,
                                    address: 0x5555_0000_1000,
                                    function: Some("poll_once".to_owned()),
                                    module: Some("/usr/bin/python3.12".to_owned()),
                                    module_offset: Some(0x1000),
                                    file: None,
                                    line: None,
                                    inlined: true,
                                    tail_call: false,
                                    source: None,
                                },
                                UserFrame {
                                    kind: FrameKind::Native,
                                    address: 0x7f3a_0005_0000,
                                    function: None,
                                    module: Some("/usr/lib/libfoo.so".to_owned()),
                                    module_offset: Some(0x1a2b),
                                    file: None,
                                    line: None,
                                    inlined: false,
                                    tail_call: false,
                                    source: None,
                                },
                                UserFrame {
                                    kind: FrameKind::Native,
                                    address: 0x7f3a_dead_beef,
                                    function: None,
                                    module: None,
                                    module_offset: None,
                                    file: None,
                                    line: None,
                                    inlined: false,
                                    tail_call: false,
                                    source: None,
                                },
                            ],
                            kernel_stack_note: None,
                            user_stack_note: Some("unwinding stopped: no CFI".to_owned()),
                            python_frames: None,
                            python_note: None,
                            holds_gil: None,
                            python_ident: None,
                        },
                        Thread {
                            on_cpu: true,
                            ..Thread::new(8676, "worker\n1", "R (running)")
                        },
                    ],
                    python: None,
                    python_note: None,
                    note: None,
                })),
            },
        ],
    }
}
