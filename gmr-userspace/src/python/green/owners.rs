//! Which OS thread each greenlet belongs to, and which greenlet each
//! thread runs now, read from outside the process.
//!
//! Greenlets are grouped by thread as greenlet itself groups them (see
//! [`Lineage`]): a started greenlet by its own link, one not started by
//! its parent's. Each group is then placed on a Python thread state:
//! - greenlet 0.4/1.x: the group's link is its thread state's dict
//!   (`PyThreadState.dict`), so the thread state whose dict it is.
//! - greenlet 2.x/3.x: the group's link is its main greenlet, which keeps
//!   greenlet's `ThreadState` (NULL once the thread ended; its first field
//!   points back at the main greenlet, which checks the layout) but nothing
//!   naming the OS thread. Greenlets run on their thread's C stack, so
//!   their stack addresses (a started greenlet's `stack_stop`, a main
//!   greenlet's `stack_start` once it switched away) lie in that thread's
//!   stack mapping: the mapping holding its `pthread_t` (glibc and musl put
//!   the thread's descriptor at the top of the stack they map for it), and
//!   `[stack]` for the process's first thread.
//!
//! A group whose addresses fall in several threads' stacks, or two groups
//! placed on one thread (a thread that ended, its stack reused), get no
//! thread, with a note saying why, never a guess. One window remains:
//! greenlet before 3.4 clears an ended thread's `ThreadState` link only
//! from a pending call the main thread runs later, and until then that
//! thread's greenlets would be placed on a new thread that reuses its
//! stack (glibc caches stacks) and runs no greenlet of its own. A thread's running
//! greenlet is the one of its group whose state is running (greenlet
//! clears a greenlet's saved top frame when it switches to it); two such
//! (it switched while being read) mark none.

use std::collections::HashMap;
use std::ops::Range;

use procfs::process::{MMapPath, MemoryMap};

use super::greenlet::{GreenletInfo, GreenletState, Lineage, OwnerThread};
use super::layout::ThreadLink;
use crate::proc::memory::ProcessMemory;
use crate::python::PythonThread;

/// Parent links followed at most from a greenlet not started.
const MAX_PARENTS: usize = 64;

/// A group of greenlets that share a thread, as greenlet links them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Group {
    /// greenlet 0.4/1.x: by their thread state's dict.
    StateDict(u64),
    /// greenlet 2.x/3.x: by their main greenlet.
    MainGreenlet(u64),
}

/// Sets `thread`, `current` and `thread_note` of every greenlet of
/// `greenlets`, read with `link`, from the Python thread states `threads`
/// of the process whose memory is `memory` and whose memory map is `maps`.
pub fn assign(
    memory: &ProcessMemory,
    link: ThreadLink,
    greenlets: &mut [GreenletInfo],
    threads: &[PythonThread],
    maps: &[MemoryMap],
) {
    let index: HashMap<u64, usize> = greenlets
        .iter()
        .enumerate()
        .map(|(i, g)| (g.address, i))
        .collect();
    let groups: Vec<Result<Group, String>> = greenlets
        .iter()
        .map(|g| group_of(g, greenlets, &index))
        .collect();
    let stacks = thread_stacks(memory.pid(), threads, maps);
    let mut placed: HashMap<Group, Result<usize, String>> = HashMap::new();
    for group in groups.iter().flatten() {
        if placed.contains_key(group) {
            continue;
        }
        let members: Vec<&GreenletInfo> = greenlets
            .iter()
            .zip(&groups)
            .filter(|(_, g)| g.as_ref() == Ok(group))
            .map(|(g, _)| g)
            .collect();
        let thread = match *group {
            Group::StateDict(dict) => thread_of_dict(memory, link, dict, threads),
            Group::MainGreenlet(main) => {
                thread_of_main(memory, main, greenlets, &index, &members, threads, &stacks)
            }
        };
        placed.insert(*group, thread);
    }
    share_no_thread(&mut placed, threads);
    for (greenlet, group) in greenlets.iter_mut().zip(&groups) {
        let thread = group
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|group| placed[group].clone());
        match thread {
            Ok(i) => {
                greenlet.thread = Some(OwnerThread {
                    tid: threads[i].native_tid,
                    ident: threads[i].pthread_id,
                });
            }
            Err(why) => greenlet.thread_note = Some(format!("thread not shown: {why}")),
        }
    }
    mark_running(greenlets);
}

/// The group of `greenlet`: its own link when started, else its parent's
/// (followed through `greenlets`, indexed by address in `index`).
fn group_of(
    greenlet: &GreenletInfo,
    greenlets: &[GreenletInfo],
    index: &HashMap<u64, usize>,
) -> Result<Group, String> {
    let mut current = greenlet;
    for _ in 0..MAX_PARENTS {
        match current.lineage {
            Lineage::StateDict(dict) => return Ok(Group::StateDict(dict)),
            Lineage::MainGreenlet(main) => return Ok(Group::MainGreenlet(main)),
            Lineage::Main { .. } => return Ok(Group::MainGreenlet(current.address)),
            Lineage::Parent(0) => {
                return Err(format!(
                    "greenlet {:#x} was never started and has no parent",
                    current.address
                ));
            }
            Lineage::Parent(parent) => match index.get(&parent) {
                Some(&i) => current = &greenlets[i],
                None => {
                    return Err(format!(
                        "it was never started and its parent {parent:#x} was not read"
                    ));
                }
            },
        }
    }
    Err(format!("more than {MAX_PARENTS} parents, none started"))
}

/// The thread state (index into `threads`) whose dict is `dict`.
fn thread_of_dict(
    memory: &ProcessMemory,
    link: ThreadLink,
    dict: u64,
    threads: &[PythonThread],
) -> Result<usize, String> {
    let ThreadLink::StateDict { tstate_dict, .. } = link else {
        return Err("a thread-state dict link in a greenlet 2.x/3.x layout".to_owned());
    };
    threads
        .iter()
        .position(|t| memory.read_u64(t.thread_state + tstate_dict).ok() == Some(dict))
        .ok_or_else(|| {
            format!(
                "its thread has ended (no live thread state has the dict {dict:#x} it runs with)"
            )
        })
}

/// The thread (index into `threads`) of the greenlets `members`, whose
/// main greenlet is `main`.
fn thread_of_main(
    memory: &ProcessMemory,
    main: u64,
    greenlets: &[GreenletInfo],
    index: &HashMap<u64, usize>,
    members: &[&GreenletInfo],
    threads: &[PythonThread],
    stacks: &[(usize, Range<u64>)],
) -> Result<usize, String> {
    let Some(Lineage::Main { thread_state }) = index.get(&main).map(|&i| greenlets[i].lineage)
    else {
        return Err(format!("its main greenlet {main:#x} was not read"));
    };
    if thread_state == 0 {
        return Err(format!(
            "its thread has ended (its main greenlet {main:#x} has no thread state)"
        ));
    }
    if memory.read_u64(thread_state).ok() != Some(main) {
        return Err(format!(
            "the thread state {thread_state:#x} of its main greenlet {main:#x} does not point back at it (layout check failed)"
        ));
    }
    let marks: Vec<u64> = members.iter().filter_map(|g| g.stack_mark).collect();
    if marks.is_empty() {
        return Err(format!(
            "no greenlet of its main greenlet {main:#x} has switched yet, so none has an address on its thread's stack"
        ));
    }
    let mut found: Vec<usize> = marks
        .iter()
        .flat_map(|&mark| {
            stacks
                .iter()
                .filter(move |(_, range)| range.contains(&mark))
                .map(|&(i, _)| i)
        })
        .collect();
    found.sort_unstable();
    found.dedup();
    match found[..] {
        [one] => Ok(one),
        [] => Err(format!(
            "none of its stack addresses ({}) lies in a live thread's stack",
            hex_list(&marks)
        )),
        _ => Err(format!(
            "its stack addresses lie in the stacks of {} threads (idents {})",
            found.len(),
            found
                .iter()
                .map(|&i| threads[i].pthread_id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The stack mapping(s) of each thread of `threads` (by index): the
/// mapping holding its `pthread_t`, and `[stack]` for the thread whose id
/// is the process's `pid`.
fn thread_stacks(
    pid: u32,
    threads: &[PythonThread],
    maps: &[MemoryMap],
) -> Vec<(usize, Range<u64>)> {
    let mapping_of = |address: u64| {
        maps.iter()
            .find(|m| (m.address.0..m.address.1).contains(&address))
            .map(|m| m.address.0..m.address.1)
    };
    let first_stack = maps
        .iter()
        .find(|m| m.pathname == MMapPath::Stack)
        .map(|m| m.address.0..m.address.1);
    let mut stacks = Vec::new();
    for (i, thread) in threads.iter().enumerate() {
        stacks.extend(mapping_of(thread.pthread_id).map(|range| (i, range)));
        if thread.native_tid == Some(pid) {
            stacks.extend(first_stack.clone().map(|range| (i, range)));
        }
    }
    stacks
}

/// Two groups placed on one thread cannot both be its own (one ran in a
/// thread that ended, whose stack the other reuses): neither keeps it.
fn share_no_thread(placed: &mut HashMap<Group, Result<usize, String>>, threads: &[PythonThread]) {
    let mut count: HashMap<usize, usize> = HashMap::new();
    for thread in placed.values().flatten() {
        *count.entry(*thread).or_default() += 1;
    }
    for thread in placed.values_mut() {
        if let Ok(i) = *thread
            && count[&i] > 1
        {
            *thread = Err(format!(
                "{} groups of greenlets (one per main greenlet) place themselves on the thread with ident {}; a thread that ended may have left its stack to it",
                count[&i], threads[i].pthread_id
            ));
        }
    }
}

/// Marks each thread's running greenlet: the one of its greenlets whose
/// state is running, when there is exactly one.
fn mark_running(greenlets: &mut [GreenletInfo]) {
    let mut running: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, greenlet) in greenlets.iter().enumerate() {
        if let (Some(thread), GreenletState::Running) = (greenlet.thread, greenlet.state) {
            running.entry(thread.ident).or_default().push(i);
        }
    }
    for members in running.values() {
        if let [one] = members[..] {
            greenlets[one].current = true;
            continue;
        }
        for &i in members {
            greenlets[i].thread_note = Some(format!(
                "not marked as its thread's running greenlet: {} greenlets of this thread looked running (it switched while being read)",
                members.len()
            ));
        }
    }
}

/// `0x…, 0x…`.
fn hex_list(values: &[u64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:#x}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    //! Greenlets and thread states laid out by hand in this process's own
    //! memory, read back through `process_vm_readv` like any target's.

    use super::*;

    /// A greenlet as read, with only what placing it looks at.
    fn greenlet(
        address: u64,
        state: GreenletState,
        lineage: Lineage,
        stack_mark: Option<u64>,
    ) -> GreenletInfo {
        GreenletInfo {
            address,
            class: "greenlet.greenlet".to_owned(),
            main: matches!(lineage, Lineage::Main { .. }),
            state,
            frames: Vec::new(),
            unreliable: None,
            lineage,
            stack_mark,
            thread: None,
            current: false,
            hub: false,
            thread_note: None,
        }
    }

    fn thread(native_tid: u32, pthread_id: u64, thread_state: u64) -> PythonThread {
        PythonThread {
            native_tid: Some(native_tid),
            pthread_id,
            thread_state,
            holds_gil: None,
            frames: Vec::new(),
            unreliable: None,
        }
    }

    const CPP: ThreadLink = ThreadLink::MainGreenlet {
        main_greenlet: 168,
        parent: 184,
        thread_state: 176,
    };

    #[test]
    fn greenlet_2_and_3_are_placed_by_their_stack_addresses() {
        // A `ThreadState` whose first field is the main greenlet, and a
        // "stack" (this heap block) holding the thread's `pthread_t` and a
        // greenlet's `stack_stop`.
        let main = 0x7000_0000_1000;
        let words: Vec<u64> = vec![main; 64];
        let at = |i: usize| words.as_ptr() as u64 + 8 * i as u64;
        let memory = ProcessMemory::new(std::process::id());
        let maps = crate::proc::maps::read(std::process::id()).expect("own maps");
        let threads = [thread(4242, at(40), 0)];
        let mut greenlets = vec![
            greenlet(
                main,
                GreenletState::Suspended,
                Lineage::Main {
                    thread_state: at(0),
                },
                Some(at(30)),
            ),
            greenlet(
                0x7000_0000_2000,
                GreenletState::Running,
                Lineage::MainGreenlet(main),
                Some(at(20)),
            ),
            greenlet(
                0x7000_0000_3000,
                GreenletState::NotStarted,
                Lineage::Parent(0x7000_0000_2000),
                None,
            ),
        ];
        assign(&memory, CPP, &mut greenlets, &threads, &maps);
        let expected = Some(OwnerThread {
            tid: Some(4242),
            ident: at(40),
        });
        for g in &greenlets {
            assert_eq!((g.thread, &g.thread_note), (expected, &None), "{g:?}");
        }
        let current: Vec<bool> = greenlets.iter().map(|g| g.current).collect();
        assert_eq!(current, [false, true, false]);
    }

    #[test]
    fn a_main_greenlet_without_thread_state_or_back_link_places_nothing() {
        let main = 0x7000_0000_1000;
        let words: Vec<u64> = vec![0x1234; 64];
        let at = |i: usize| words.as_ptr() as u64 + 8 * i as u64;
        let memory = ProcessMemory::new(std::process::id());
        let maps = crate::proc::maps::read(std::process::id()).expect("own maps");
        let threads = [thread(4242, at(40), 0)];
        for (thread_state, says) in [
            (0, "its thread has ended"),
            (at(0), "does not point back at it"),
        ] {
            let mut greenlets = vec![
                greenlet(
                    main,
                    GreenletState::Running,
                    Lineage::Main { thread_state },
                    None,
                ),
                greenlet(
                    0x7000_0000_2000,
                    GreenletState::Suspended,
                    Lineage::MainGreenlet(main),
                    Some(at(20)),
                ),
            ];
            assign(&memory, CPP, &mut greenlets, &threads, &maps);
            for g in &greenlets {
                let note = g.thread_note.as_deref().unwrap_or_default();
                assert!(g.thread.is_none() && !g.current, "{g:?}");
                assert!(note.contains(says), "{note}");
            }
        }
    }

    #[test]
    fn stack_addresses_off_every_thread_stack_place_nothing() {
        let main = 0x7000_0000_1000;
        let words: Vec<u64> = vec![main; 64];
        let at = |i: usize| words.as_ptr() as u64 + 8 * i as u64;
        let memory = ProcessMemory::new(std::process::id());
        let maps = crate::proc::maps::read(std::process::id()).expect("own maps");
        // The thread's `pthread_t` lies in no mapping: no stack is known.
        let threads = [thread(4242, 0x10, 0)];
        let mut greenlets = vec![greenlet(
            main,
            GreenletState::Running,
            Lineage::Main {
                thread_state: at(0),
            },
            Some(at(20)),
        )];
        assign(&memory, CPP, &mut greenlets, &threads, &maps);
        let note = greenlets[0].thread_note.as_deref().unwrap_or_default();
        assert!(note.contains("lies in a live thread's stack"), "{note}");
    }

    #[test]
    fn greenlet_0_4_and_1_x_are_placed_by_their_thread_state_dict() {
        const TSTATE_DICT: u64 = 152;
        let link = ThreadLink::StateDict {
            run_info: 64,
            parent: 56,
            tstate_dict: TSTATE_DICT,
        };
        let dict = 0x7000_0000_9000;
        let words: Vec<u64> = vec![dict; 64];
        let tstate = words.as_ptr() as u64;
        let memory = ProcessMemory::new(std::process::id());
        let threads = [thread(4242, 0x7000_0000_8000, tstate)];
        let mut greenlets = vec![
            greenlet(
                0x7000_0000_1000,
                GreenletState::Running,
                Lineage::StateDict(dict),
                None,
            ),
            greenlet(
                0x7000_0000_2000,
                GreenletState::Running,
                Lineage::StateDict(dict),
                None,
            ),
            greenlet(
                0x7000_0000_3000,
                GreenletState::Suspended,
                Lineage::StateDict(0x7000_0000_a000),
                None,
            ),
            greenlet(
                0x7000_0000_4000,
                GreenletState::NotStarted,
                Lineage::Parent(0x7000_0000_5000),
                None,
            ),
        ];
        assign(&memory, link, &mut greenlets, &threads, &[]);
        let ident = |g: &GreenletInfo| g.thread.map(|t| t.ident);
        assert_eq!(ident(&greenlets[0]), Some(0x7000_0000_8000));
        // Two running greenlets on one thread: it switched while being
        // read, so neither is marked.
        for g in &greenlets[..2] {
            assert!(!g.current, "{g:?}");
            let note = g.thread_note.as_deref().unwrap_or_default();
            assert!(
                note.contains("2 greenlets of this thread looked running"),
                "{note}"
            );
        }
        let ended = greenlets[2].thread_note.as_deref().unwrap_or_default();
        assert!(ended.contains("its thread has ended"), "{ended}");
        let orphan = greenlets[3].thread_note.as_deref().unwrap_or_default();
        assert!(
            orphan.contains("its parent 0x700000005000 was not read"),
            "{orphan}"
        );
    }
}
