//! Reads of kernel structs at offsets taken from BTF.

use aya_ebpf::helpers::bpf_probe_read_kernel;
use gmr_common::{COMM_LEN, MAX_CGROUP_LEVEL};

use crate::program::maps::{TAGGED_CGROUPS, offset, offsets};

/// Reads a `T` at `base + offset` in kernel memory.
#[inline(always)]
pub fn read<T>(base: *const u8, offset: u32) -> Option<T> {
    // SAFETY: bpf_probe_read_kernel tolerates any address.
    unsafe { bpf_probe_read_kernel(base.wrapping_add(offset as usize) as *const T).ok() }
}

/// The task's thread name.
#[inline(always)]
pub fn task_comm(task: *const u8) -> [u8; COMM_LEN] {
    read(task, offset(|o| &o.task_comm)).unwrap_or([0; COMM_LEN])
}

/// The task's process id.
#[inline(always)]
pub fn task_tgid(task: *const u8) -> u32 {
    read(task, offset(|o| &o.task_tgid)).unwrap_or(0)
}

/// The id of the first tagged cgroup among the task's cgroup v2 and its
/// ancestors, root first.
#[inline(always)]
pub fn tagged_cgroup_of(task: *const u8) -> Option<u64> {
    let off = offsets();
    let css_set: *const u8 = read(task, off.task_cgroups)?;
    let cgroup: *const u8 = read(css_set, off.css_set_dfl_cgrp)?;
    let level: i32 = read(cgroup, off.cgroup_level)?;
    for i in 0..=MAX_CGROUP_LEVEL {
        if i as i32 > level {
            break;
        }
        let ancestor: *const u8 = read(cgroup, off.cgroup_ancestors + i * 8)?;
        let kn: *const u8 = read(ancestor, off.cgroup_kn)?;
        let id: u64 = read(kn, off.kernfs_node_id)?;
        // SAFETY: the value is only tested for presence.
        if unsafe { TAGGED_CGROUPS.get(&id) }.is_some() {
            return Some(id);
        }
    }
    None
}
