//! A parked goroutine's stack, walked from its saved registers with the
//! function table's frame sizes, and named as the runtime's own traceback
//! names it (`runtime.Stack`, a crash): frames of the runtime's internals
//! hidden, generic instantiations printed as `[...]`.

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

/// Walks the goroutine stack `stack` (its bytes from `sp` up) from `pc`,
/// in the binary loaded `bias` bytes above its stated addresses.
pub fn walk(binary: &GoBinary, bias: u64, stack: &[u8], pc: u64, sp: u64) -> Walked {
    let table = binary.table();
    let mut frames = Vec::new();
    let (mut pc, mut at) = (pc, sp);
    for _ in 0..MAX_FRAMES {
        let stated = pc.wrapping_sub(bias);
        let Some(func) = table.func_at(stated) else {
            let cut = format!("stopped at {pc:#x}, outside the Go functions");
            return Walked {
                frames,
                cut: Some(cut),
            };
        };
        frames.extend(
            binary
                .frames(trace_pc(stated, func.entry))
                .into_iter()
                .flatten()
                .filter(|frame| shown(&frame.function))
                .map(printed),
        );
        if let Some((boundary, _)) = binary.stack_boundary(stated) {
            let cut = (boundary == StackBoundary::Switch).then(|| {
                "stopped where the stack switches (its caller is on another stack)".to_owned()
            });
            return Walked { frames, cut };
        }
        let Some(size) = table.frame_size(func, stated) else {
            let cut = format!("no frame size for {pc:#x} in the function table");
            return Walked {
                frames,
                cut: Some(cut),
            };
        };
        let slot = at.saturating_add(size);
        let Some(return_address) = word(stack, sp, slot) else {
            let cut = format!("the return address at {slot:#x} is outside the goroutine's stack");
            return Walked {
                frames,
                cut: Some(cut),
            };
        };
        (pc, at) = (return_address, slot + 8);
    }
    Walked {
        frames,
        cut: Some(format!("stopped after {MAX_FRAMES} frames")),
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
