//! The running kernel's function symbols, from `/proc/kallsyms`, kept
//! compact: one sorted table of 16-byte entries and one string of names
//! (about 4 MiB for 120,000 functions), instead of a string per symbol.
//!
//! Reading `/proc/kallsyms` costs the kernel tens of milliseconds (it
//! formats every line), so the agent keeps the table across reports and
//! reads it again only when the loaded modules change.

use std::{fmt, io, path::Path};

/// Where the kernel lists its symbols.
pub const KALLSYMS: &str = "/proc/kallsyms";
/// Where the kernel lists its loaded modules.
pub const MODULES: &str = "/proc/modules";

/// No function is this long: an address further past the symbol below it
/// lies in a gap (unlisted code or data), not in that function.
const MAX_FUNCTION_SIZE: u64 = 1 << 20;

/// Marks a symbol of the core kernel image, not of a module.
const CORE: u16 = u16::MAX;

/// Why the table could not be read.
#[derive(Debug)]
pub enum KallsymsError {
    /// The file could not be read.
    Read(io::Error),
    /// Every address is zero: the reader lacks `CAP_SYSLOG`, or
    /// `kernel.kptr_restrict` hides them.
    Hidden,
}

impl fmt::Display for KallsymsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(e) => write!(f, "cannot read {KALLSYMS}: {e}"),
            Self::Hidden => write!(
                f,
                "{KALLSYMS} shows only zero addresses (needs CAP_SYSLOG and kernel.kptr_restrict < 2)"
            ),
        }
    }
}

impl std::error::Error for KallsymsError {}

/// One function symbol.
#[derive(Clone, Copy, Debug)]
struct Entry {
    address: u64,
    /// Where the name starts in [`KernelSymbols::names`].
    name_at: u32,
    name_len: u16,
    /// Index into [`KernelSymbols::modules`], or [`CORE`].
    module: u16,
}

/// A kernel function and how far into it an address lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSymbol<'a> {
    /// The function's name.
    pub name: &'a str,
    /// Bytes from its start.
    pub offset: u64,
    /// The module it belongs to, `None` for the kernel image.
    pub module: Option<&'a str>,
}

impl fmt::Display for KernelSymbol<'_> {
    /// `name+0xoff`, and ` [module]` for a module's function, as the
    /// kernel prints stacks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{:#x}", self.name, self.offset)?;
        if let Some(module) = self.module {
            write!(f, " [{module}]")?;
        }
        Ok(())
    }
}

/// The kernel's function symbols, sorted by address.
pub struct KernelSymbols {
    entries: Vec<Entry>,
    names: String,
    modules: Vec<String>,
    /// `/proc/modules` when the table was read.
    modules_seen: Vec<u8>,
}

impl KernelSymbols {
    /// Reads the running kernel's table.
    pub fn read() -> Result<Self, KallsymsError> {
        let modules_seen = std::fs::read(MODULES).unwrap_or_default();
        let text = std::fs::read(Path::new(KALLSYMS)).map_err(KallsymsError::Read)?;
        let mut symbols = Self::parse(&text)?;
        symbols.modules_seen = modules_seen;
        Ok(symbols)
    }

    /// Starts [`Self::read`] on a thread of its own: the kernel takes tens
    /// of milliseconds to list its symbols, time the caller can spend
    /// loading its eBPF programs meanwhile.
    pub fn read_in_background() -> Loading {
        Loading(
            std::thread::Builder::new()
                .name("gmr-kallsyms".into())
                .spawn(Self::read)
                .ok(),
        )
    }

    /// True when the loaded modules changed since the table was read (a
    /// module loaded since has no names here yet).
    pub fn is_stale(&self) -> bool {
        std::fs::read(MODULES).is_ok_and(|now| now != self.modules_seen)
    }

    /// Parses kallsyms text: `ADDRESS TYPE NAME[\t[MODULE]]` lines. Only
    /// functions (types `t`, `T`, `w`, `W`) are kept.
    pub fn parse(text: &[u8]) -> Result<Self, KallsymsError> {
        let mut symbols = Self {
            entries: Vec::with_capacity(text.len() / 40),
            names: String::new(),
            modules: Vec::new(),
            modules_seen: Vec::new(),
        };
        let mut any_address = false;
        for line in text.split(|&b| b == b'\n') {
            let Some((address, kind, name, module)) = fields(line) else {
                continue;
            };
            any_address |= address != 0;
            if address != 0 && matches!(kind, b't' | b'T' | b'w' | b'W') {
                symbols.push(address, name, module);
            }
        }
        if !any_address && !text.is_empty() {
            return Err(KallsymsError::Hidden);
        }
        symbols.entries.sort_by_key(|entry| entry.address);
        Ok(symbols)
    }

    /// Adds one function; names too long for the table are skipped.
    fn push(&mut self, address: u64, name: &str, module: Option<&str>) {
        let (Ok(name_at), Ok(name_len)) =
            (u32::try_from(self.names.len()), u16::try_from(name.len()))
        else {
            return;
        };
        let module = match module {
            None => CORE,
            Some(module) => match self.modules.iter().rposition(|m| m == module) {
                Some(index) => index as u16,
                None if self.modules.len() < usize::from(CORE) => {
                    self.modules.push(module.to_owned());
                    (self.modules.len() - 1) as u16
                }
                None => return,
            },
        };
        self.names.push_str(name);
        self.entries.push(Entry {
            address,
            name_at,
            name_len,
            module,
        });
    }

    /// How many functions the table holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table holds no function.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The function `address` lies in, if any is listed close below it.
    pub fn find(&self, address: u64) -> Option<KernelSymbol<'_>> {
        let below = self
            .entries
            .partition_point(|entry| entry.address <= address);
        let entry = self.entries.get(below.checked_sub(1)?)?;
        let offset = address - entry.address;
        if offset >= MAX_FUNCTION_SIZE {
            return None;
        }
        let start = entry.name_at as usize;
        Some(KernelSymbol {
            name: self.names.get(start..start + usize::from(entry.name_len))?,
            offset,
            module: self
                .modules
                .get(usize::from(entry.module))
                .map(String::as_str),
        })
    }
}

/// A table being read by [`KernelSymbols::read_in_background`].
pub struct Loading(Option<std::thread::JoinHandle<Result<KernelSymbols, KallsymsError>>>);

impl Loading {
    /// Waits for the table; reads it here if the thread could not start.
    pub fn wait(self) -> Result<KernelSymbols, KallsymsError> {
        match self.0.map(std::thread::JoinHandle::join) {
            Some(Ok(read)) => read,
            Some(Err(_)) | None => KernelSymbols::read(),
        }
    }
}

/// The address, type, name and module of one kallsyms line.
fn fields(line: &[u8]) -> Option<(u64, u8, &str, Option<&str>)> {
    let line = std::str::from_utf8(line).ok()?;
    let (address, rest) = line.split_once(' ')?;
    let (kind, rest) = rest.split_once(' ')?;
    let (name, module) = match rest.split_once('\t') {
        Some((name, module)) => (
            name,
            module
                .trim()
                .strip_prefix('[')
                .and_then(|m| m.strip_suffix(']')),
        ),
        None => (rest.trim_end(), None),
    };
    let &[kind] = kind.as_bytes() else {
        return None;
    };
    Some((u64::from_str_radix(address, 16).ok()?, kind, name, module))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"\
ffffffff81000000 T _stext
ffffffff81000100 t helper
ffffffff81002000 D some_data
ffffffff81001000 T do_nanosleep
ffffffffc0100000 t ext4_read\t[ext4]
ffffffffc0100400 T ext4_write\t[ext4]
ffffffffc0200000 t xfs_read\t[xfs]
garbage line
";

    #[test]
    fn finds_the_function_below_an_address_with_its_module() {
        let symbols = KernelSymbols::parse(SAMPLE).unwrap();
        assert_eq!(symbols.len(), 6, "data symbols are left out");
        let at = |address| symbols.find(address).map(|s| s.to_string());
        assert_eq!(at(0xffffffff81000000).as_deref(), Some("_stext+0x0"));
        assert_eq!(at(0xffffffff81000105).as_deref(), Some("helper+0x5"));
        assert_eq!(
            at(0xffffffff81001010).as_deref(),
            Some("do_nanosleep+0x10"),
            "lines out of order are sorted"
        );
        assert_eq!(
            at(0xffffffffc0100410).as_deref(),
            Some("ext4_write+0x10 [ext4]")
        );
        assert_eq!(
            at(0xffffffffc0200001).as_deref(),
            Some("xfs_read+0x1 [xfs]")
        );
        assert_eq!(at(0xffffffff80ffffff), None, "below every symbol");
        assert_eq!(at(0xffffffffc0200000 + (2 << 20)), None, "in a gap");
    }

    #[test]
    fn zero_addresses_mean_hidden() {
        let hidden = b"0000000000000000 T _stext\n0000000000000000 t helper\n";
        assert!(matches!(
            KernelSymbols::parse(hidden),
            Err(KallsymsError::Hidden)
        ));
        assert!(KernelSymbols::parse(b"").unwrap().is_empty());
    }

    #[test]
    fn reads_the_running_kernel() {
        let symbols = match KernelSymbols::read() {
            Ok(symbols) => symbols,
            Err(KallsymsError::Hidden) => {
                println!("SKIP: {KALLSYMS} hides addresses (needs root)");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        assert!(symbols.len() > 10_000, "{} functions", symbols.len());
        assert!(!symbols.is_stale());
        let text = std::fs::read_to_string(KALLSYMS).unwrap();
        let schedule = text
            .lines()
            .find_map(|line| {
                let (address, rest) = line.split_once(' ')?;
                (rest == "T schedule").then(|| u64::from_str_radix(address, 16).ok())?
            })
            .expect("schedule in kallsyms");
        let found = symbols.find(schedule + 4).expect("schedule+4");
        assert_eq!(
            (found.name, found.offset, found.module),
            ("schedule", 4, None)
        );
    }
}
