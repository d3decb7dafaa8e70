//! Function names as gdb prints them: demangled C++ names without the
//! return type a template function's mangling carries, and, where only
//! symbol tables name a function, the public one among the symbols that
//! share its address (glibc defines `__clock_nanosleep` and
//! `clock_nanosleep`, `___pthread_cond_wait` and `pthread_cond_wait`).

use std::collections::HashMap;

use object::SymbolKind;

/// A symbol's rank for a reader: exported before local, then fewer leading
/// underscores (the internal `__name` aliases), then gdb's own tie-break,
/// the name sorting last.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    local: bool,
    underscores: usize,
    name: std::cmp::Reverse<String>,
}

impl Rank {
    fn of(name: &str, exported: bool) -> Self {
        Rank {
            local: !exported,
            underscores: name.len() - name.trim_start_matches('_').len(),
            name: std::cmp::Reverse(name.to_owned()),
        }
    }
}

/// The public name of each function address of one image.
#[derive(Debug, Default)]
pub struct PublicNames {
    /// Best-ranked name by stated address, for addresses with several.
    best: HashMap<u64, Rank>,
    /// Every function symbol name by stated address.
    all: HashMap<u64, Vec<String>>,
}

impl PublicNames {
    /// Adds the function symbols of `symbols` (an image's or its debug
    /// file's symbol table).
    pub fn add<'data, S: object::ObjectSymbol<'data>>(&mut self, symbols: impl Iterator<Item = S>) {
        for symbol in symbols {
            if symbol.kind() != SymbolKind::Text || !symbol.is_definition() {
                continue;
            }
            let Ok(name) = symbol.name() else { continue };
            if name.is_empty() {
                continue;
            }
            let address = symbol.address();
            let rank = Rank::of(name, symbol.is_global() || symbol.is_weak());
            let names = self.all.entry(address).or_default();
            if !names.iter().any(|known| known == name) {
                names.push(name.to_owned());
            }
            let best = self.best.entry(address).or_insert_with(|| rank.clone());
            if rank < *best {
                *best = rank;
            }
        }
    }

    /// The public alias of `name`, the symbol-table name of the function
    /// at `address`; `None` when `name` is not one of that address's
    /// symbols or is already the public one.
    pub fn public_alias(&self, address: u64, name: &str) -> Option<&str> {
        if !self.all.get(&address)?.iter().any(|known| known == name) {
            return None;
        }
        let best = &self.best.get(&address)?.name.0;
        (best != name).then_some(best.as_str())
    }
}

/// A demangled C++ function name without its return type, as gdb prints
/// it: `void std::condition_variable::wait<F>(std::unique_lock<std::mutex>&)`
/// becomes `std::condition_variable::wait<F>(std::unique_lock<std::mutex>&)`.
/// Names without an argument list, or whose prefix is an operator, are
/// returned unchanged.
pub fn without_return_type(name: &str) -> &str {
    if !name.ends_with(')') && !name.ends_with(") const") {
        return name;
    }
    let mut depth = 0usize;
    let mut last_space = None;
    let mut rest = name;
    let mut offset = 0;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("(anonymous namespace)") {
            let skip = "(anonymous namespace)".len();
            offset += skip;
            rest = &rest[skip..];
            continue;
        }
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            '(' if depth == 0 => break,
            ' ' if depth == 0 => last_space = Some(offset),
            _ => {}
        }
        offset += c.len_utf8();
        rest = &rest[c.len_utf8()..];
    }
    match last_space {
        Some(space) if !name[..space].contains("operator") => &name[space + 1..],
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_types_are_dropped_and_other_names_kept() {
        assert_eq!(
            without_return_type(
                "void std::condition_variable::wait<main::{lambda()#1}>(std::unique_lock<std::mutex>&, main::{lambda()#1})"
            ),
            "std::condition_variable::wait<main::{lambda()#1}>(std::unique_lock<std::mutex>&, main::{lambda()#1})"
        );
        assert_eq!(
            without_return_type("std::pair<int, int> (anonymous namespace)::f<int>(int) const"),
            "(anonymous namespace)::f<int>(int) const"
        );
        for kept in [
            "parked::Waiter::wait_forever()",
            "std::thread::_State_impl<T>::_M_run()",
            "operator new(unsigned long)",
            "std::vector<int>::operator[](unsigned long)",
            "clock_nanosleep",
            "<T as core::ops::Fn<()>>::call",
        ] {
            assert_eq!(without_return_type(kept), kept);
        }
    }

    fn names(symbols: &[(&str, bool)]) -> PublicNames {
        let mut names = PublicNames::default();
        for &(name, exported) in symbols {
            let rank = Rank::of(name, exported);
            let best = names.best.entry(0x10).or_insert_with(|| rank.clone());
            if rank < *best {
                *best = rank;
            }
            names.all.entry(0x10).or_default().push(name.to_owned());
        }
        names
    }

    #[test]
    fn the_exported_name_with_fewest_underscores_wins() {
        let table = names(&[
            ("___pthread_cond_wait", true),
            ("pthread_cond_wait", true),
            ("__pthread_cond_wait_local", false),
        ]);
        assert_eq!(
            table.public_alias(0x10, "___pthread_cond_wait"),
            Some("pthread_cond_wait")
        );
        assert_eq!(table.public_alias(0x10, "pthread_cond_wait"), None);
        assert_eq!(table.public_alias(0x10, "unrelated"), None);
        assert_eq!(table.public_alias(0x20, "pthread_cond_wait"), None);
    }

    #[test]
    fn exported_beats_local_and_ties_go_to_the_name_sorting_last() {
        let table = names(&[("read", false), ("__libc_read", true), ("__read", true)]);
        assert_eq!(table.public_alias(0x10, "read"), Some("__read"));
        let table = names(&[("a_alias", true), ("b_alias", true)]);
        assert_eq!(table.public_alias(0x10, "a_alias"), Some("b_alias"));
    }
}
