//! Tail-call frames: the functions a tail call removed from the machine
//! stack, rebuilt between two unwound frames from the call sites of
//! [`super::call_sites`], as gdb does. The caller's call site says which
//! function it called; when that is not the callee's function, the chains
//! of tail calls that lead from it to the callee are searched, and frames
//! are added only when exactly one chain exists (an ambiguous chain adds
//! nothing, so no frame is ever guessed).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::call_sites::{CallSites, Callee};
use crate::unwind::{Frame, ModuleInfo, ProcessModules};

/// Longest chain of tail calls searched between two frames.
const MAX_CHAIN: usize = 8;

/// Finds tail-call chains among the modules of one process.
pub struct TailCalls<'a, L> {
    modules: &'a ProcessModules,
    load: L,
    /// Call sites per module, by the module's first address.
    loaded: RefCell<HashMap<u64, Option<Rc<CallSites>>>>,
}

impl<'a, L: Fn(&ModuleInfo) -> Option<Rc<CallSites>>> TailCalls<'a, L> {
    /// Chains among `modules`, whose call sites `load` reads (each module
    /// is asked for at most once).
    pub fn new(modules: &'a ProcessModules, load: L) -> Self {
        TailCalls {
            modules,
            load,
            loaded: RefCell::new(HashMap::new()),
        }
    }

    /// `stack` (innermost first) with the entries of tail-called functions
    /// inserted where exactly one chain links a caller to its callee; the
    /// flag is true for those inserted frames.
    pub fn expand(&self, stack: &[Frame]) -> Vec<(Frame, bool)> {
        let mut out = Vec::with_capacity(stack.len());
        for (index, frame) in stack.iter().enumerate() {
            out.push((*frame, false));
            let Some(caller) = stack.get(index + 1) else {
                continue;
            };
            if !caller.is_return_address
                || caller.is_signal_trampoline
                || frame.is_signal_trampoline
            {
                continue;
            }
            for entry in self.chain(caller, frame).into_iter().rev() {
                let tail = Frame {
                    address: entry,
                    is_return_address: false,
                    is_signal_trampoline: false,
                };
                out.push((tail, true));
            }
        }
        out
    }

    /// The entries of the functions tail-called between `caller` and
    /// `callee`, the one `caller` called first; empty unless exactly one
    /// chain exists.
    fn chain(&self, caller: &Frame, callee: &Frame) -> Vec<u64> {
        let Some(module) = self.modules.module_at(caller.address) else {
            return Vec::new();
        };
        let first = self.sites(module).and_then(|sites| {
            let called = sites.callee_returning_to(module.stated_address(caller.address)?)?;
            self.resolve(module, called)
        });
        let (Some(first), Some(goal)) = (first, self.function_entry(callee.lookup_address()))
        else {
            return Vec::new();
        };
        if first == goal {
            return Vec::new();
        }
        let mut found = Vec::new();
        self.search(first, goal, &mut Vec::new(), &mut found);
        match <[Vec<u64>; 1]>::try_from(found) {
            Ok([chain]) => chain,
            Err(_) => Vec::new(),
        }
    }

    /// Depth-first search for chains from `node` to `goal`, stopping once
    /// two distinct ones are known.
    fn search(&self, node: u64, goal: u64, path: &mut Vec<u64>, found: &mut Vec<Vec<u64>>) {
        if found.len() > 1 || path.len() >= MAX_CHAIN || path.contains(&node) {
            return;
        }
        let Some(module) = self.modules.module_at(node) else {
            return;
        };
        let Some(sites) = self.sites(module) else {
            return;
        };
        let Some(stated) = module.stated_address(node) else {
            return;
        };
        path.push(node);
        for callee in sites.tail_calls_of(stated) {
            match self.resolve(module, callee) {
                Some(next) if next == goal && !found.contains(path) => found.push(path.clone()),
                Some(next) if next == goal => {}
                Some(next) => self.search(next, goal, path, found),
                None => {}
            }
        }
        path.pop();
    }

    /// The address `callee` (named by a call site of `module`) is entered at.
    fn resolve(&self, module: &ModuleInfo, callee: &Callee) -> Option<u64> {
        match callee {
            Callee::Address(stated) => module.base_avma.checked_add(*stated),
            Callee::Symbol(name) => {
                let local = self
                    .sites(module)
                    .and_then(|sites| sites.symbol(name, false))
                    .and_then(|stated| module.base_avma.checked_add(stated));
                local.or_else(|| {
                    self.modules.modules().iter().find_map(|other| {
                        let stated = self.sites(other)?.symbol(name, true)?;
                        other.base_avma.checked_add(stated)
                    })
                })
            }
        }
    }

    /// The entry of the function holding `address`.
    fn function_entry(&self, address: u64) -> Option<u64> {
        let module = self.modules.module_at(address)?;
        let entry = self
            .sites(module)?
            .function_entry(module.stated_address(address)?)?;
        module.base_avma.checked_add(entry)
    }

    fn sites(&self, module: &ModuleInfo) -> Option<Rc<CallSites>> {
        self.loaded
            .borrow_mut()
            .entry(module.avma_range.start)
            .or_insert_with(|| (self.load)(module))
            .clone()
    }
}
