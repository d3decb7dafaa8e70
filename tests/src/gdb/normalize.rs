//! Reducing function names from gdb and from gmr to a comparable form.

/// Reduces a function name to the form both sides can agree on:
///
/// - drops a symbol version (`clock_nanosleep@GLIBC_2.17`, `f@plt`);
/// - drops a Rust legacy hash (`::h0123456789abcdef`);
/// - drops a trailing argument list (`ns::f(int)`) and generic arguments
///   (`recv<()>`, `<T as Trait>::call_once`);
/// - keeps the last path segment (`std::thread::sleep` → `sleep`), or the
///   named one with the closures inside it (`spawn::{closure#1}::{closure#0}`
///   and `spawn::{{closure}}::{{closure}}` → `spawn::{closure}::{closure}`);
/// - drops vtable shims (`call_once{{vtable.shim}}` → `call_once`);
/// - drops glibc's internal prefixes and leading underscores
///   (`__GI___clock_nanosleep` → `clock_nanosleep`, `__GI___libc_read` →
///   `read`, `___pthread_cond_wait` → `pthread_cond_wait`).
pub fn normalize_name(raw: &str) -> String {
    let name = raw.trim();
    let name = match name.find('@') {
        Some(at) if at > 0 => &name[..at],
        _ => name,
    };
    let name = strip_rust_hash(name);
    let name = strip_argument_list(name);
    let name = strip_generics(name);
    let name = last_path_segment(&name);
    let stripped = strip_glibc_prefixes(&name);
    if stripped.is_empty() {
        name
    } else {
        stripped.to_owned()
    }
}

/// Drops a trailing `::h` followed by 16 hex digits.
fn strip_rust_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((path, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            path
        }
        _ => name,
    }
}

/// Drops a final balanced `(...)` group that follows a name.
fn strip_argument_list(name: &str) -> &str {
    if !name.ends_with(')') {
        return name;
    }
    let mut depth = 0;
    for (index, c) in name.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    return if index == 0 {
                        name
                    } else {
                        name[..index].trim_end()
                    };
                }
            }
            _ => {}
        }
    }
    name
}

/// Removes every `<...>` group (an `->` arrow does not close one).
fn strip_generics(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut depth = 0usize;
    let mut previous = '\0';
    for c in name.chars() {
        match c {
            '<' => depth += 1,
            '>' if depth > 0 && previous != '-' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
        previous = c;
    }
    out
}

/// The last `::` segment, or `parent::{closure}` for a closure.
fn last_path_segment(path: &str) -> String {
    let segments: Vec<String> = path
        .split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty() && !is_shim(s))
        .map(|s| {
            if is_closure(s) {
                "{closure}".to_owned()
            } else {
                strip_shim_suffix(s).to_owned()
            }
        })
        .collect();
    let Some(named) = segments.iter().rposition(|s| s != "{closure}") else {
        return if segments.is_empty() {
            path.to_owned()
        } else {
            "{closure}".to_owned()
        };
    };
    segments[named..].join("::")
}

/// `{closure#0}` (v0 / DWARF) or `{{closure}}` (legacy mangling).
fn is_closure(segment: &str) -> bool {
    segment.starts_with("{closure") || segment.starts_with("{{closure")
}

/// A whole segment naming a compiler shim, e.g. v0's `{shim:vtable#0}`.
fn is_shim(segment: &str) -> bool {
    segment.starts_with("{shim")
}

/// Drops legacy mangling's shim suffix: `call_once{{vtable.shim}}` → `call_once`.
fn strip_shim_suffix(segment: &str) -> &str {
    match segment.find("{{") {
        Some(at) if at > 0 => &segment[..at],
        _ => segment,
    }
}

/// Strips leading underscores and glibc's `GI_` / `libc_` internal prefixes.
fn strip_glibc_prefixes(mut name: &str) -> &str {
    loop {
        name = name.trim_start_matches('_');
        match name
            .strip_prefix("GI_")
            .or_else(|| name.strip_prefix("libc_"))
        {
            Some(rest) => name = rest,
            None => return name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_name;

    #[track_caller]
    fn same(names: &[&str], expected: &str) {
        for name in names {
            assert_eq!(normalize_name(name), expected, "normalizing {name:?}");
        }
    }

    #[test]
    fn glibc_variants_agree() {
        same(
            &[
                "__GI___clock_nanosleep",
                "clock_nanosleep",
                "__clock_nanosleep",
                "clock_nanosleep@GLIBC_2.17",
            ],
            "clock_nanosleep",
        );
        same(
            &["__GI___nanosleep", "nanosleep", "__nanosleep@@GLIBC_2.2.5"],
            "nanosleep",
        );
        same(
            &["__GI___libc_read", "__libc_read", "read", "read@plt"],
            "read",
        );
        same(
            &[
                "___pthread_cond_wait",
                "pthread_cond_wait@@GLIBC_2.3.2",
                "__pthread_cond_wait",
            ],
            "pthread_cond_wait",
        );
        same(&["??"], "??");
        same(&["_"], "_");
    }

    #[test]
    fn rust_variants_agree() {
        same(
            &[
                "rust_parked::sleeping_inner",
                "rust_parked::sleeping_inner::h0123456789abcdef",
                "sleeping_inner",
            ],
            "sleeping_inner",
        );
        same(
            &[
                "std::sync::mpsc::Receiver::recv<()>",
                "std::sync::mpsc::Receiver<T>::recv",
                "std::sync::mpsc::Receiver<T>::recv::h00000000000000ff",
            ],
            "recv",
        );
        same(
            &[
                "alloc::boxed::{impl#31}::call_once<(), (dyn core::ops::function::FnOnce<(), Output=()> + core::marker::Send), alloc::alloc::Global>",
                "<alloc::boxed::Box<F,A> as core::ops::function::FnOnce<Args>>::call_once",
            ],
            "call_once",
        );
        same(
            &[
                "rust_parked::spawn_role::{closure#0}<fn()>",
                "rust_parked::spawn_role::{{closure}}::h1111111111111111",
            ],
            "spawn_role::{closure}",
        );
        same(
            &["core::ops::function::FnOnce::call_once<fn() -> i32, ()>"],
            "call_once",
        );
    }

    #[test]
    fn argument_lists_are_dropped() {
        same(
            &["ns::Widget::draw(int, char const*)", "Widget::draw"],
            "draw",
        );
        same(&["ns::Functor::operator()(int)"], "operator()");
    }

    #[test]
    fn closures_and_shims_agree_between_gdb_and_demanglers() {
        let gdb = "std::thread::lifecycle::spawn_unchecked::{closure#1}::{closure#0}<F, ()>";
        let legacy = "std::thread::lifecycle::spawn_unchecked::{{closure}}::{{closure}}";
        assert_eq!(normalize_name(gdb), "spawn_unchecked::{closure}::{closure}");
        assert_eq!(normalize_name(legacy), normalize_name(gdb));
        assert_eq!(
            normalize_name("core::ops::function::FnOnce::call_once{{vtable.shim}}"),
            "call_once"
        );
        assert_eq!(
            normalize_name("core::ops::function::FnOnce::call_once::{shim:vtable#0}"),
            "call_once"
        );
        assert_eq!(
            normalize_name("core::ops::function::FnOnce::call_once<F, ()>"),
            "call_once"
        );
    }
}
