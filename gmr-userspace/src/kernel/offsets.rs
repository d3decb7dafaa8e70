//! Kernel struct offsets for the eBPF programs, read from the running
//! kernel's BTF (there is no CO-RE for Rust eBPF programs), and kept for
//! the boot in a [`BootCache`] file.

use std::path::Path;

use gmr_common::{GuardOffsets, KernelOffsets};

use super::{
    boot_cache::{BootCache, BootKey, CacheError, Fields, put_short_str},
    btf::{Btf, BtfError},
};

/// The name of the layout's boot cache file.
const CACHE_NAME: &str = "btf-layout";
/// The kernel function the capture iterator attaches to.
pub const ITER_TASK_FUNC: &str = "bpf_iter_task";

/// What the programs need from the kernel's BTF: every offset, the guard's
/// (or why it has none), and the type id of the task iterator the capture
/// program attaches to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelLayout {
    /// The programs' offsets.
    pub offsets: KernelOffsets,
    /// The guard's offsets, or why the BTF lacks one of them.
    pub guard: Result<GuardOffsets, String>,
    /// The BTF type id of `bpf_iter_task`.
    pub iter_task_id: u32,
}

impl KernelLayout {
    /// The running kernel's layout: from this boot's cache file, else read
    /// from `/sys/kernel/btf/vmlinux` (and the cache file written).
    pub fn running() -> Result<Self, BtfError> {
        let cache = BootKey::running_now().map(BootCache::running);
        if let Ok(cache) = &cache
            && let Some(layout) = cache.load(CACHE_NAME, Self::decode)
        {
            return Ok(layout);
        }
        let layout = Self::from_btf(&Btf::from_file(Path::new(VMLINUX_BTF))?)?;
        match &cache {
            Ok(cache) => cache.store(CACHE_NAME, &layout.encode()),
            Err(e) => log::warn!("no boot cache for kernel offsets: {e}"),
        }
        Ok(layout)
    }

    /// Looks the layout up in `btf`.
    pub fn from_btf(btf: &Btf) -> Result<Self, BtfError> {
        Ok(Self {
            offsets: offsets_from(btf)?,
            guard: guard_offsets_from(btf).map_err(|e| e.to_string()),
            iter_task_id: btf.func_id(ITER_TASK_FUNC).ok_or_else(|| {
                BtfError::new(format!(
                    "function {ITER_TASK_FUNC} not found in kernel BTF (task iterators need Linux 5.8+)"
                ))
            })?,
        })
    }

    /// The layout as a boot cache payload: the offsets in their struct's
    /// order, the guard's (1) or why there are none (0), the iterator's id.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let words = offset_words(&self.offsets);
        out.extend_from_slice(&(words.len() as u32).to_le_bytes());
        for word in words {
            out.extend_from_slice(&word.to_le_bytes());
        }
        match &self.guard {
            Ok(guard) => {
                out.push(1);
                for word in guard_words(guard) {
                    out.extend_from_slice(&word.to_le_bytes());
                }
            }
            Err(why) => {
                out.push(0);
                put_short_str(&mut out, why);
            }
        }
        out.extend_from_slice(&self.iter_task_id.to_le_bytes());
        out
    }

    /// Reads an [`Self::encode`]d layout.
    pub fn decode(payload: &[u8]) -> Result<Self, CacheError> {
        let mut fields = Fields::new(payload);
        let count = fields.u32("offset count")?;
        if count as usize != OFFSET_COUNT {
            return Err(CacheError::Malformed(format!(
                "{count} kernel offsets, this agent uses {OFFSET_COUNT}"
            )));
        }
        let mut words = [0; OFFSET_COUNT];
        for word in &mut words {
            *word = fields.u32("kernel offset")?;
        }
        let guard = match fields.bytes(1, "guard flag")?[0] {
            1 => {
                let mut guard = [0; 4];
                for word in &mut guard {
                    *word = fields.u32("guard offset")?;
                }
                Ok(GuardOffsets {
                    task_sighand: guard[0],
                    sighand_action: guard[1],
                    k_sigaction_size: guard[2],
                    k_sigaction_handler: guard[3],
                })
            }
            0 => Err(fields.short_str("why the guard has no offsets")?.to_owned()),
            other => {
                return Err(CacheError::Malformed(format!("guard flag {other}")));
            }
        };
        let iter_task_id = fields.u32("iterator type id")?;
        fields.finish("the kernel layout")?;
        Ok(Self {
            offsets: offsets_from_words(words),
            guard,
            iter_task_id,
        })
    }
}

/// How many `u32`s [`KernelOffsets`] holds.
const OFFSET_COUNT: usize = 17;

fn offset_words(o: &KernelOffsets) -> [u32; OFFSET_COUNT] {
    [
        o.task_pid,
        o.task_tgid,
        o.task_flags,
        o.task_state,
        o.task_exit_state,
        o.task_on_cpu,
        o.task_comm,
        o.task_cgroups,
        o.css_set_dfl_cgrp,
        o.cgroup_kn,
        o.cgroup_level,
        o.cgroup_ancestors,
        o.kernfs_node_id,
        o.inode_ino,
        o.inode_sb,
        o.super_block_dev,
        o.vma_end,
    ]
}

fn offsets_from_words(w: [u32; OFFSET_COUNT]) -> KernelOffsets {
    KernelOffsets {
        task_pid: w[0],
        task_tgid: w[1],
        task_flags: w[2],
        task_state: w[3],
        task_exit_state: w[4],
        task_on_cpu: w[5],
        task_comm: w[6],
        task_cgroups: w[7],
        css_set_dfl_cgrp: w[8],
        cgroup_kn: w[9],
        cgroup_level: w[10],
        cgroup_ancestors: w[11],
        kernfs_node_id: w[12],
        inode_ino: w[13],
        inode_sb: w[14],
        super_block_dev: w[15],
        vma_end: w[16],
    }
}

fn guard_words(g: &GuardOffsets) -> [u32; 4] {
    [
        g.task_sighand,
        g.sighand_action,
        g.k_sigaction_size,
        g.k_sigaction_handler,
    ]
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_kernels_layout_survives_its_cache_payload() {
        let btf = match Btf::from_file(Path::new(VMLINUX_BTF)) {
            Ok(btf) => btf,
            Err(e) => {
                println!("SKIP: no kernel BTF: {e}");
                return;
            }
        };
        let layout = KernelLayout::from_btf(&btf).unwrap();
        assert_eq!(layout.offsets, offsets_from(&btf).unwrap());
        assert_eq!(KernelLayout::decode(&layout.encode()).unwrap(), layout);
        let without_guard = KernelLayout {
            guard: Err("struct sighand_struct not found".into()),
            ..layout
        };
        let payload = without_guard.encode();
        assert_eq!(KernelLayout::decode(&payload).unwrap(), without_guard);
        for len in 0..payload.len() {
            assert!(
                KernelLayout::decode(&payload[..len]).is_err(),
                "{len} bytes"
            );
        }
        let mut bad_flag = layout_payload_with_flag(&payload, 7);
        assert!(
            KernelLayout::decode(&bad_flag)
                .unwrap_err()
                .to_string()
                .contains("guard flag 7")
        );
        bad_flag[0] = 3;
        assert!(
            KernelLayout::decode(&bad_flag)
                .unwrap_err()
                .to_string()
                .contains("3 kernel offsets")
        );
    }

    /// `payload` with its guard flag (after the count and the offsets) set.
    fn layout_payload_with_flag(payload: &[u8], flag: u8) -> Vec<u8> {
        let mut changed = payload.to_vec();
        changed[4 + 4 * OFFSET_COUNT] = flag;
        changed
    }
}
