//! A parked goroutine's stack, walked from its saved registers with the
//! function table's frame sizes, and named as the runtime's own traceback
//! names it (`runtime.Stack`, a crash): frames of the runtime's internals
//! hidden, generic instantiations printed as `[...]`.

use std::collections::HashMap;

use super::super::{GoBinary, GoFrame, StackBoundary};

/// Physical frames walked at most; the runtime itself prints 100.
const MAX_FRAMES: usize = 1024;

/// A walked stack: source frames outermost last, and why it ended early.
pub struct Walked {
    /// Frames as the runtime prints them, innermost first.
    pub frames: Vec<GoFrame>,
    /// Why the walk stopped before the goroutine's first function.
    pub cut: Option<String>,
}

/// What the walk needs at one pc, worked out once per report: thousands
/// of goroutines parked in the same place share their pcs, and decoding
/// the function table's line and frame-size tables is the walk's cost.
#[derive(Clone)]
enum PcStep {
    /// Outside every Go function.
    NotGo,
    /// Frames shown at the pc, where the stack ends there (if it does),
    /// and the frame size there (if the table has one).
    Go {
        frames: Vec<GoFrame>,
        boundary: Option<StackBoundary>,
        size: Option<u64>,
    },
}

/// Walks goroutine stacks of one binary, remembering each pc's step.
pub struct Walker<'a> {
    binary: &'a GoBinary,
    /// Run-time minus stated addresses.
    bias: u64,
    /// The function id of the compiler's wrappers.
    wrapper: u8,
    steps: HashMap<u64, PcStep>,
}

impl<'a> Walker<'a> {
    /// A walker for `binary`, loaded `bias` bytes above its stated
    /// addresses, whose wrappers have function id `wrapper`.
    pub fn new(binary: &'a GoBinary, bias: u64, wrapper: u8) -> Self {
        Walker {
            binary,
            bias,
            wrapper,
            steps: HashMap::new(),
        }
    }

    /// Walks the goroutine stack `stack` (its bytes from `sp` up) from
    /// `pc`.
    pub fn walk(&mut self, stack: &[u8], pc: u64, sp: u64) -> Walked {
        let mut frames = Vec::new();
        let (mut pc, mut at) = (pc, sp);
        for _ in 0..MAX_FRAMES {
            let stated = pc.wrapping_sub(self.bias);
            let step = match self.steps.get(&stated) {
                Some(step) => step.clone(),
                None => {
                    let step = self.step(stated);
                    self.steps.insert(stated, step.clone());
                    step
                }
            };
            let PcStep::Go {
                frames: shown_here,
                boundary,
                size,
            } = step
            else {
                let cut = format!("stopped at {pc:#x}, outside the Go functions");
                return Walked::cut(frames, cut);
            };
            frames.extend(shown_here);
            if let Some(boundary) = boundary {
                let cut = (boundary == StackBoundary::Switch).then(|| {
                    "stopped where the stack switches (its caller is on another stack)".to_owned()
                });
                return Walked { frames, cut };
            }
            let Some(size) = size else {
                return Walked::cut(
                    frames,
                    format!("no frame size for {pc:#x} in the function table"),
                );
            };
            let slot = at.saturating_add(size);
            let Some(return_address) = word(stack, sp, slot) else {
                let cut =
                    format!("the return address at {slot:#x} is outside the goroutine's stack");
                return Walked::cut(frames, cut);
            };
            (pc, at) = (return_address, slot + 8);
        }
        Walked::cut(frames, format!("stopped after {MAX_FRAMES} frames"))
    }

    /// The step at stated address `stated`, from the function table.
    fn step(&self, stated: u64) -> PcStep {
        let table = self.binary.table();
        let Some(func) = table.func_at(stated) else {
            return PcStep::NotGo;
        };
        // A compiler wrapper (the closure a `go` statement with arguments
        // starts, a method-value wrapper) is left out as the runtime's
        // `showframe` leaves it out; its inlined callees stay.
        let is_wrapper = table.func_id(func) == Some(self.wrapper);
        let frames = self
            .binary
            .frames(trace_pc(stated, func.entry))
            .into_iter()
            .flatten()
            .filter(|frame| frame.inlined || !is_wrapper)
            .filter(|frame| shown(&frame.function))
            .map(printed)
            .collect();
        PcStep::Go {
            frames,
            boundary: self.binary.stack_boundary(stated).map(|(b, _)| b),
            size: table.frame_size(func, stated),
        }
    }
}

impl Walked {
    /// A walk cut short for `reason`.
    fn cut(frames: Vec<GoFrame>, reason: String) -> Self {
        Walked {
            frames,
            cut: Some(reason),
        }
    }
}

/// The address whose source line the runtime prints for a frame at `pc`:
/// the call instruction before a return address, as `runtime.Stack` does.
pub fn trace_pc(pc: u64, entry: u64) -> u64 {
    if pc > entry { pc - 1 } else { pc }
}

/// Whether the runtime's traceback shows a frame of `function` (its
/// `showfuncinfo` at the default `GOTRACEBACK`): qualified names only, and
/// of the runtime package only its exported functions.
pub fn shown(function: &str) -> bool {
    match function.strip_prefix("runtime.") {
        Some(rest) => rest.starts_with(|c: char| c.is_ascii_uppercase()),
        None => function.contains('.'),
    }
}

/// `frame` with its function named as the runtime prints it
/// (`funcNameForPrint`: a generic instantiation's shapes become `[...]`).
pub fn printed(mut frame: GoFrame) -> GoFrame {
    frame.function = name_for_print(&frame.function);
    frame
}

/// `main.Map[go.shape.int]` as the runtime prints it: `main.Map[...]`.
pub fn name_for_print(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '[' => {
                if depth == 0 {
                    out.push_str("[...]");
                }
                depth += 1;
            }
            ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The word at `address` of the stack whose bytes start at `sp`.
fn word(stack: &[u8], sp: u64, address: u64) -> Option<u64> {
    let at = usize::try_from(address.checked_sub(sp)?).ok()?;
    let bytes = stack.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::{name_for_print, shown};

    #[test]
    fn names_and_hidden_frames_follow_the_runtime() {
        assert_eq!(name_for_print("main.Map[go.shape.int]"), "main.Map[...]");
        assert_eq!(
            name_for_print("main.(*T[go.shape.[]int]).M"),
            "main.(*T[...]).M"
        );
        assert_eq!(name_for_print("main.main.func1"), "main.main.func1");
        assert!(shown("main.worker"));
        assert!(shown("runtime.Gosched"));
        assert!(shown("sync.(*Mutex).Lock"));
        assert!(!shown("runtime.gopark"));
        assert!(!shown("runtime.goexit"));
    }
}
