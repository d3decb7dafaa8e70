//! Kernel struct offsets for the eBPF programs, read from the running
//! kernel's BTF (there is no CO-RE for Rust eBPF programs).

use std::path::Path;

use gmr_common::{GuardOffsets, KernelOffsets};

use super::btf::{Btf, BtfError};

/// Where the running kernel publishes its BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Reads the offsets from `/sys/kernel/btf/vmlinux`.
pub fn running_kernel_offsets() -> Result<KernelOffsets, BtfError> {
    offsets_from(&Btf::from_file(Path::new(VMLINUX_BTF))?)
}

/// Reads the guard's offsets from `/sys/kernel/btf/vmlinux`.
pub fn running_kernel_guard_offsets() -> Result<GuardOffsets, BtfError> {
    guard_offsets_from(&Btf::from_file(Path::new(VMLINUX_BTF))?)
}

/// Looks up where the guard finds a task's handler for a signal.
pub fn guard_offsets_from(btf: &Btf) -> Result<GuardOffsets, BtfError> {
    Ok(GuardOffsets {
        task_sighand: btf.member_offset("task_struct", "sighand")?,
        sighand_action: btf.member_offset("sighand_struct", "action")?,
        k_sigaction_size: btf.struct_size("k_sigaction")?,
        k_sigaction_handler: btf.member_offset("k_sigaction", "sa.sa_handler")?,
    })
}

/// Looks up every offset the programs use (but the guard's).
pub fn offsets_from(btf: &Btf) -> Result<KernelOffsets, BtfError> {
    // `__state` replaced `state` in 5.14.
    let task_state = btf
        .member_offset("task_struct", "__state")
        .or_else(|_| btf.member_offset("task_struct", "state"))?;
    Ok(KernelOffsets {
        task_pid: btf.member_offset("task_struct", "pid")?,
        task_tgid: btf.member_offset("task_struct", "tgid")?,
        task_flags: btf.member_offset("task_struct", "flags")?,
        task_state,
        task_exit_state: btf.member_offset("task_struct", "exit_state")?,
        task_on_cpu: btf.member_offset("task_struct", "on_cpu")?,
        task_comm: btf.member_offset("task_struct", "comm")?,
        task_cgroups: btf.member_offset("task_struct", "cgroups")?,
        css_set_dfl_cgrp: btf.member_offset("css_set", "dfl_cgrp")?,
        cgroup_kn: btf.member_offset("cgroup", "kn")?,
        cgroup_level: btf.member_offset("cgroup", "level")?,
        cgroup_ancestors: btf.member_offset("cgroup", "ancestors")?,
        kernfs_node_id: btf.member_offset("kernfs_node", "id")?,
        inode_ino: btf.member_offset("inode", "i_ino")?,
        inode_sb: btf.member_offset("inode", "i_sb")?,
        super_block_dev: btf.member_offset("super_block", "s_dev")?,
        vma_end: btf.member_offset("vm_area_struct", "vm_end")?,
    })
}
