//! The running kernel's function symbols, from `/proc/kallsyms`, kept
//! compact: one sorted table of 16-byte entries and one string of names
//! (about 4 MiB for 120,000 functions), instead of a string per symbol.
//!
//! Reading `/proc/kallsyms` costs the kernel tens of milliseconds (it
//! formats every line), so the agent keeps the table across reports and
//! reads it again only when the loaded modules change, and the table is
//! kept for the boot in a [`BootCache`] file that the next process (a
//! one-shot `report --pid`) reads instead.

use std::{fmt, io, path::Path};

use super::boot_cache::{BootCache, BootKey, CacheError, Fields, put_short_str};

/// Where the kernel lists its symbols.
pub const KALLSYMS: &str = "/proc/kallsyms";
/// Where the kernel lists its loaded modules.
pub const MODULES: &str = "/proc/modules";

/// No function is this long: an address further past the symbol below it
/// lies in a gap (unlisted code or data), not in that function.
const MAX_FUNCTION_SIZE: u64 = 1 << 20;

/// Marks a symbol of the core kernel image, not of a module.
const CORE: u16 = u16::MAX;

/// The name of the table's boot cache file.
const CACHE_NAME: &str = "kallsyms";
/// Bytes of one entry in the cache file.
const ENTRY_LEN: usize = 16;

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
    /// Reads the running kernel's table: from this boot's cache file when
    /// it was made with the same modules loaded, else from `/proc/kallsyms`
    /// (and then writes the cache file).
    pub fn read() -> Result<Self, KallsymsError> {
        let modules_seen = std::fs::read(MODULES).unwrap_or_default();
        let cache = BootKey::running(&modules_seen).map(BootCache::running);
        let cached = cache
            .as_ref()
            .ok()
            .and_then(|cache| cache.load(CACHE_NAME, Self::decode));
        let mut symbols = match cached {
            Some(symbols) => symbols,
            None => {
                let text = std::fs::read(Path::new(KALLSYMS)).map_err(KallsymsError::Read)?;
                let symbols = Self::parse(&text)?;
                match &cache {
                    Ok(cache) => cache.store(CACHE_NAME, &symbols.encode()),
                    Err(e) => log::warn!("no boot cache for kernel symbols: {e}"),
                }
                symbols
            }
        };
        symbols.modules_seen = modules_seen;
        Ok(symbols)
    }

    /// The table as a boot cache payload: counts, module names, the names
    /// string, then the entries.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.names.len() + self.entries.len() * ENTRY_LEN + 64);
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.names.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.modules.len() as u16).to_le_bytes());
        for module in &self.modules {
            put_short_str(&mut out, module);
        }
        out.extend_from_slice(self.names.as_bytes());
        for entry in &self.entries {
            out.extend_from_slice(&entry.address.to_le_bytes());
            out.extend_from_slice(&entry.name_at.to_le_bytes());
            out.extend_from_slice(&entry.name_len.to_le_bytes());
            out.extend_from_slice(&entry.module.to_le_bytes());
        }
        out
    }

    /// Reads an [`Self::encode`]d table, checking every entry: its name
    /// lies in the names on character boundaries, its module exists, and
    /// the addresses are sorted.
    pub fn decode(payload: &[u8]) -> Result<Self, CacheError> {
        let bad = |why: String| CacheError::Malformed(format!("kernel symbols: {why}"));
        let mut fields = Fields::new(payload);
        let count = fields.u32("symbol count")? as usize;
        let names_len = fields.u32("names length")? as usize;
        let module_count = fields.u16("module count")?;
        if module_count == CORE {
            return Err(bad(format!("{module_count} modules")));
        }
        let modules = (0..module_count)
            .map(|_| fields.short_str("module name").map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()?;
        let names = std::str::from_utf8(fields.bytes(names_len, "names")?)
            .map_err(|e| bad(format!("names are not UTF-8: {e}")))?;
        let table = fields.bytes(count.saturating_mul(ENTRY_LEN), "symbol table")?;
        fields.finish("the symbol table")?;
        let mut entries = Vec::with_capacity(count);
        for (index, raw) in table.chunks_exact(ENTRY_LEN).enumerate() {
            let mut entry_fields = Fields::new(raw);
            let entry = Entry {
                address: entry_fields.u64("address")?,
                name_at: entry_fields.u32("name start")?,
                name_len: entry_fields.u16("name length")?,
                module: entry_fields.u16("module")?,
            };
            let start = entry.name_at as usize;
            if names
                .get(start..start + usize::from(entry.name_len))
                .is_none()
            {
                return Err(bad(format!(
                    "symbol {index}'s name is not within the names"
                )));
            }
            if entry.module != CORE && usize::from(entry.module) >= modules.len() {
                return Err(bad(format!(
                    "symbol {index}'s module {} does not exist",
                    entry.module
                )));
            }
            if entries
                .last()
                .is_some_and(|last: &Entry| last.address > entry.address)
            {
                return Err(bad(format!("symbol {index} is out of address order")));
            }
            entries.push(entry);
        }
        Ok(Self {
            entries,
            names: names.to_owned(),
            modules,
            modules_seen: Vec::new(),
        })
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
    fn the_cache_payload_gives_the_same_table_and_rejects_bad_entries() {
        let symbols = KernelSymbols::parse(SAMPLE).unwrap();
        let payload = symbols.encode();
        let cached = KernelSymbols::decode(&payload).unwrap();
        for address in [
            0xffffffff81000105,
            0xffffffff81001010,
            0xffffffffc0100410,
            0xffffffffc0200001,
        ] {
            assert_eq!(
                cached.find(address).map(|s| s.to_string()),
                symbols.find(address).map(|s| s.to_string()),
                "{address:#x}"
            );
        }
        assert_eq!(cached.len(), symbols.len());
        // The entries are the last bytes: 16 per symbol (address, name
        // start, name length, module).
        let first_entry = payload.len() - symbols.len() * ENTRY_LEN;
        let with = |at: usize, bytes: &[u8]| {
            let mut changed = payload.clone();
            changed[at..at + bytes.len()].copy_from_slice(bytes);
            KernelSymbols::decode(&changed)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        assert!(with(first_entry + 8, &u32::MAX.to_le_bytes()).contains("not within the names"));
        assert!(with(first_entry + 14, &7u16.to_le_bytes()).contains("module 7 does not exist"));
        assert!(with(first_entry, &u64::MAX.to_le_bytes()).contains("out of address order"));
        for len in 0..payload.len() {
            assert!(
                KernelSymbols::decode(&payload[..len]).is_err(),
                "{len} bytes"
            );
        }
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
