//! Function names as gdb prints them: demangled C++ names without the
//! return type a template function's mangling carries (where debug info
//! names the function; gdb keeps it for symbol-table names), integer template
//! arguments in libiberty's forms (`std::ratio<1l, 1l>`, where the
//! cpp_demangle crate writes `std::ratio<(long)1, (long)1>`), the parameter
//! list dropped where gdb's C++ name parser reads the name, and, where only
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

/// Integer literal types libiberty prints as a suffix (`1l`), with the
/// suffix; cpp_demangle prints them as a cast (`(long)1`).
const LITERAL_SUFFIXES: [(&str, &str); 5] = [
    ("(unsigned long long)", "ull"),
    ("(long long)", "ll"),
    ("(unsigned long)", "ul"),
    ("(unsigned int)", "u"),
    ("(long)", "l"),
];

/// Pieces of demangled names gdb's C++ name parser does not read: it then
/// prints such a name whole, parameter list included.
const UNPARSED_BY_GDB: [&str; 11] = [
    "[abi:",
    "{lambda(",
    "<lambda(",
    "{unnamed type#",
    "<unnamed",
    "{default arg#",
    "{parm#",
    "[clone ",
    "decltype (",
    "{anonymous}",
    "'lambda",
];

/// A C++ linkage name demangled as gdb names a function with debug info:
/// libiberty's forms, without a template function's return type. The name
/// itself when it does not demangle.
pub fn demangled_for_gdb(mangled: &str) -> String {
    let options = cpp_demangle::DemangleOptions::new().no_return_type();
    cpp_demangle::Symbol::new(mangled)
        .ok()
        .and_then(|symbol| symbol.demangle_with_options(&options).ok())
        .map_or_else(|| mangled.to_owned(), |name| libiberty_literals(&name))
}

/// `name` with cpp_demangle's integer literals (`(long)1`, `(unsigned
/// int)-2`) written as libiberty writes them (`1l`, `-2u`).
pub fn libiberty_literals(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    'scan: while let Some(open) = rest.find('(') {
        let (before, from) = rest.split_at(open);
        out.push_str(before);
        for (cast, suffix) in LITERAL_SUFFIXES {
            let Some(after) = from.strip_prefix(cast) else {
                continue;
            };
            let sign = usize::from(after.starts_with('-'));
            let digits = after[sign..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len() - sign);
            if digits == 0 {
                continue;
            }
            out.push_str(&after[..sign + digits]);
            out.push_str(suffix);
            rest = &after[sign + digits..];
            continue 'scan;
        }
        out.push('(');
        rest = &from[1..];
    }
    out.push_str(rest);
    out
}

/// A function name as gdb's backtrace prints it: without its parameter
/// list (and the `const` after it) when gdb's C++ parser reads the name
/// (gdb's `cp_remove_params`), whole otherwise.
pub fn gdb_frame_name(name: &str) -> String {
    if UNPARSED_BY_GDB.iter().any(|piece| name.contains(piece)) {
        return name.to_owned();
    }
    let mut head = name;
    while let Some(rest) = [" const", " volatile"]
        .iter()
        .find_map(|qualifier| head.strip_suffix(qualifier))
    {
        head = rest;
    }
    if !head.ends_with(')') {
        return name.to_owned();
    }
    let mut depth = 0usize;
    for (index, c) in head.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    // `operator()` alone names the operator: there is no
                    // parameter list to drop.
                    let function = &head[..index];
                    let plain = !function.is_empty()
                        && !function.ends_with(' ')
                        && !function.ends_with("operator");
                    return if plain { function } else { name }.to_owned();
                }
            }
            _ => {}
        }
    }
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linkage_names_read_as_gdb_prints_them() {
        // Names from tests/fixtures/cpp/parked.cpp, printed by gdb 13.
        assert_eq!(
            gdb_frame_name(&demangled_for_gdb(
                "_ZNSt11this_thread9sleep_forIlSt5ratioILl1ELl1EEEEvRKNSt6chrono8durationIT_T0_EE"
            )),
            "std::this_thread::sleep_for<long, std::ratio<1l, 1l> >"
        );
        assert_eq!(
            gdb_frame_name(&demangled_for_gdb("_ZN6parked6Waiter12wait_foreverEv")),
            "parked::Waiter::wait_forever"
        );
        assert_eq!(
            gdb_frame_name(&demangled_for_gdb(
                "_ZNSt18condition_variable4waitIZN6parked6Waiter12wait_foreverEvEUlvE_EEvRSt11unique_lockISt5mutexET_"
            )),
            "std::condition_variable::wait<parked::Waiter::wait_forever()::{lambda()#1}>(std::unique_lock<std::mutex>&, parked::Waiter::wait_forever()::{lambda()#1})"
        );
        assert_eq!(demangled_for_gdb("not_mangled"), "not_mangled");
    }

    #[test]
    fn literals_take_libiberty_suffixes() {
        assert_eq!(
            libiberty_literals(
                "f<(long)1, (unsigned long)2, (unsigned int)-3, (long long)4, (unsigned long long)5, (char)97, 6>(long)"
            ),
            "f<1l, 2ul, -3u, 4ll, 5ull, (char)97, 6>(long)"
        );
    }

    #[test]
    fn parameter_lists_go_where_gdb_parses_the_name() {
        assert_eq!(gdb_frame_name("ns::A::f(int) const"), "ns::A::f");
        assert_eq!(
            gdb_frame_name("ns::Functor::operator()(int)"),
            "ns::Functor::operator()"
        );
        assert_eq!(
            gdb_frame_name("(anonymous namespace)::g(char const*)"),
            "(anonymous namespace)::g"
        );
        for kept in [
            "std::__invoke_impl<void, main()::<lambda()> >",
            "std::thread::_State_impl<std::thread::_Invoker<std::tuple<main()::<lambda()> > > >::_M_run(void)",
            "f()::{lambda()#1}::operator()() const",
            "ns::tagged[abi:cxx11](int)",
            "main",
            "operator()",
            "ns::Functor::operator()",
            "f(int)::local",
        ] {
            assert_eq!(gdb_frame_name(kept), kept);
        }
    }

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
