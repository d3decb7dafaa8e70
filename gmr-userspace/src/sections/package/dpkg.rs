//! Which Debian package owns a file, from the dpkg database the process
//! itself sees (`/var/lib/dpkg` through its root), and that package's
//! installed version.
//!
//! `dpkg -S` reads every `info/*.list` file on each call (about 100 ms on a
//! desktop). [`PackageDb`] instead indexes the lists once per filesystem
//! root, keeping only a 64-bit hash of each path and the index of its list
//! file, about 16 bytes a path; a hit is confirmed by reading that one list
//! file, so a hash collision can never name a wrong package. The index is
//! rebuilt when `status` changes, which dpkg rewrites on every install or
//! removal.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::os::unix::fs::MetadataExt as _;
use std::time::Instant;

use super::root::RootFs;

/// The dpkg database directory, inside the process's root.
const DPKG_DIR: &str = "/var/lib/dpkg";

/// Largest `status` file read; big distributions have a few megabytes.
const MAX_STATUS_SIZE: u64 = 256 * 1024 * 1024;

/// Largest single `*.list` file read; the biggest packages list ~100k paths.
const MAX_LIST_SIZE: u64 = 64 * 1024 * 1024;

/// How many filesystem roots (host, containers) keep an index at once.
const MAX_ROOTS: usize = 8;

/// Top-level directories that `/usr`-merged systems make symlinks into
/// `/usr`, so a file listed as `/bin/x` is found at `/usr/bin/x`.
const MERGED_DIRS: [&str; 7] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"];

/// A distribution package owning a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct DistroPackage {
    /// `dpkg` or `rpm`.
    pub(super) manager: &'static str,
    /// Package name, without a multi-arch qualifier.
    pub(super) name: String,
    /// Installed version, as the package manager prints it.
    pub(super) version: Option<String>,
    /// The package's vendor, when the package manager records one (rpm).
    pub(super) vendor: Option<String>,
    /// The maintainer's name (dpkg), a last resort for the vendor.
    pub(super) maintainer: Option<String>,
}

/// Cached dpkg indexes, one per filesystem root; the agent keeps one
/// `PackageDb` for all its reports so only the first lookup in a root pays
/// for reading the database.
#[derive(Debug, Default)]
pub struct PackageDb {
    /// Least recently used first.
    indexes: Vec<DpkgIndex>,
}

impl PackageDb {
    /// An empty cache; indexes are built on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// The dpkg package owning `path` (as the process sees it) in `root`.
    ///
    /// `None` when the root has no dpkg database, it cannot be read, or no
    /// package lists the path (or its `/usr`-merge alias).
    pub(super) fn dpkg_owner(&mut self, root: &RootFs, path: &str) -> Option<DistroPackage> {
        let status_path = format!("{DPKG_DIR}/status");
        let stamp = match root.metadata(&status_path) {
            Ok(meta) => Stamp::of(&meta),
            Err(error) => {
                log::debug!("no dpkg database in {}: {error}", root.host_view(DPKG_DIR));
                return None;
            }
        };
        let index = self.index_for(root, stamp)?;
        usr_merge_aliases(root, path)
            .iter()
            .find_map(|candidate| index.owner(root, candidate))
    }

    /// The up-to-date index of `root`, built now if missing or stale.
    fn index_for(&mut self, root: &RootFs, stamp: Stamp) -> Option<&DpkgIndex> {
        let key = root.identity();
        if let Some(at) = self.indexes.iter().position(|index| index.root == key) {
            let index = self.indexes.remove(at);
            if index.stamp == stamp {
                self.indexes.push(index);
                return self.indexes.last();
            }
        }
        let started = Instant::now();
        let index = DpkgIndex::build(root, key, stamp)?;
        log::debug!(
            "indexed {} dpkg paths of {} packages in {} in {:?}",
            index.paths.len(),
            index.lists.len(),
            root.host_view(DPKG_DIR),
            started.elapsed()
        );
        if self.indexes.len() >= MAX_ROOTS {
            self.indexes.remove(0);
        }
        self.indexes.push(index);
        self.indexes.last()
    }
}

/// What identifies one version of the `status` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            inode: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

/// One root's dpkg database, indexed.
#[derive(Debug)]
struct DpkgIndex {
    /// The root directory's device and inode.
    root: (u64, u64),
    /// The `status` file this index was built from.
    stamp: Stamp,
    /// `info/*.list` stems: `coreutils`, `libc6:amd64`.
    lists: Vec<String>,
    /// (hash of a listed path, index into `lists`), sorted.
    paths: Vec<(u64, u32)>,
    /// `status` entries by `name` and by `name:arch`.
    status: HashMap<String, StatusEntry>,
}

/// What `status` says about one package.
#[derive(Clone, Debug, Default)]
struct StatusEntry {
    version: Option<String>,
    maintainer: Option<String>,
    installed: bool,
}

impl DpkgIndex {
    /// Reads `status` and every `info/*.list` of `root`.
    fn build(root: &RootFs, key: (u64, u64), stamp: Stamp) -> Option<Self> {
        let status_path = format!("{DPKG_DIR}/status");
        let status = match root.read_text(&status_path, MAX_STATUS_SIZE) {
            Ok(text) => parse_status(&text),
            Err(error) => {
                log::debug!("cannot read {}: {error}", root.host_view(&status_path));
                return None;
            }
        };
        let info = format!("{DPKG_DIR}/info");
        let names = match root.read_dir(&info) {
            Ok(names) => names,
            Err(error) => {
                log::debug!("cannot list {}: {error}", root.host_view(&info));
                return None;
            }
        };
        let mut lists = Vec::new();
        let mut paths = Vec::new();
        for name in names {
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".list")) else {
                continue;
            };
            let list_path = format!("{info}/{stem}.list");
            let text = match root.read(&list_path, MAX_LIST_SIZE) {
                Ok(text) => text,
                Err(error) => {
                    log::debug!("skipping {}: {error}", root.host_view(&list_path));
                    continue;
                }
            };
            let Ok(list_index) = u32::try_from(lists.len()) else {
                break;
            };
            paths.extend(
                text.split(|&byte| byte == b'\n')
                    .filter(|line| !line.is_empty())
                    .map(|line| (path_hash(line), list_index)),
            );
            lists.push(stem.to_owned());
        }
        paths.sort_unstable();
        Some(Self {
            root: key,
            stamp,
            lists,
            paths,
            status,
        })
    }

    /// The installed package listing exactly `path`, confirmed by its list.
    fn owner(&self, root: &RootFs, path: &str) -> Option<DistroPackage> {
        let hash = path_hash(path.as_bytes());
        let start = self.paths.partition_point(|&(h, _)| h < hash);
        let mut owners: Vec<(&str, &StatusEntry)> = self.paths[start..]
            .iter()
            .take_while(|&&(h, _)| h == hash)
            .map(|&(_, list)| self.lists[list as usize].as_str())
            .filter(|stem| self.lists_path(root, stem, path))
            .map(|stem| (stem, self.status_of(stem)))
            .collect();
        // A stale list of a removed package must not win over the real owner.
        owners.sort_by_key(|(_, entry)| !entry.installed);
        let (stem, entry) = owners.into_iter().next()?;
        let name = stem.split_once(':').map_or(stem, |(name, _)| name);
        Some(DistroPackage {
            manager: "dpkg",
            name: name.to_owned(),
            version: entry.version.clone(),
            vendor: None,
            maintainer: entry.maintainer.clone(),
        })
    }

    /// Whether list `stem` really contains the line `path`.
    fn lists_path(&self, root: &RootFs, stem: &str, path: &str) -> bool {
        let list_path = format!("{DPKG_DIR}/info/{stem}.list");
        root.read(&list_path, MAX_LIST_SIZE)
            .is_ok_and(|text| text.split(|&b| b == b'\n').any(|l| l == path.as_bytes()))
    }

    /// The status entry for a list stem (`name` or `name:arch`).
    fn status_of(&self, stem: &str) -> &StatusEntry {
        static UNKNOWN: StatusEntry = StatusEntry {
            version: None,
            maintainer: None,
            installed: false,
        };
        let bare = stem.split_once(':').map_or(stem, |(name, _)| name);
        self.status
            .get(stem)
            .or_else(|| self.status.get(bare))
            .unwrap_or(&UNKNOWN)
    }
}

/// The hash a path is indexed under; stable within one agent run, which is
/// all the index needs.
fn path_hash(path: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish()
}

/// Parses dpkg's `status` file into entries keyed by `name` and `name:arch`.
///
/// When several architectures of one package are installed, the bare name
/// keeps the first installed one.
fn parse_status(text: &str) -> HashMap<String, StatusEntry> {
    let mut entries = HashMap::new();
    for stanza in text.split("\n\n") {
        let mut name = None;
        let mut arch = None;
        let mut entry = StatusEntry::default();
        // Continuation lines start with a space and never match a field.
        for line in stanza.lines() {
            let Some((field, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match field {
                "Package" => name = Some(value),
                "Architecture" => arch = Some(value),
                "Version" => entry.version = Some(value.to_owned()),
                "Maintainer" => entry.maintainer = Some(maintainer_name(value).to_owned()),
                // `want flag state`: only "installed" means files are in place.
                "Status" => entry.installed = value.ends_with(" installed"),
                _ => {}
            }
        }
        let Some(name) = name else { continue };
        if let Some(arch) = arch {
            entries.insert(format!("{name}:{arch}"), entry.clone());
        }
        let keep_existing = entries
            .get(name)
            .is_some_and(|existing: &StatusEntry| existing.installed && !entry.installed);
        if !keep_existing {
            entries.insert(name.to_owned(), entry);
        }
    }
    entries
}

/// `Debian Python Team <team+python@…>` → `Debian Python Team`.
fn maintainer_name(maintainer: &str) -> &str {
    maintainer
        .split_once('<')
        .map_or(maintainer, |(name, _)| name)
        .trim()
}

/// `path` and, where `/usr` is merged in this root, the same file's other
/// name: dpkg lists a file under the name its package shipped it as, while
/// `/proc/PID/exe` gives the canonical one.
fn usr_merge_aliases(root: &RootFs, path: &str) -> Vec<String> {
    let mut aliases = vec![path.to_owned()];
    let (top, alias) = if let Some(rest) = path.strip_prefix("/usr/") {
        (rest.split('/').next().unwrap_or(rest), format!("/{rest}"))
    } else {
        let rest = path.trim_start_matches('/');
        (
            rest.split('/').next().unwrap_or(rest),
            format!("/usr{path}"),
        )
    };
    if MERGED_DIRS.contains(&top)
        && same_directory(root, &format!("/{top}"), &format!("/usr/{top}"))
    {
        aliases.push(alias);
    }
    aliases
}

/// True when both paths lead to one directory inside `root`.
fn same_directory(root: &RootFs, a: &str, b: &str) -> bool {
    match (root.metadata(a), root.metadata(b)) {
        (Ok(a), Ok(b)) => a.is_dir() && a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn own_root() -> RootFs {
        RootFs::open(std::process::id()).expect("open own root")
    }

    /// `dpkg-query`'s answer for a package's version, the reference.
    fn dpkg_version(package: &str) -> String {
        let out = Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", package])
            .output()
            .expect("run dpkg-query");
        assert!(out.status.success(), "dpkg-query {package} failed");
        String::from_utf8(out.stdout).expect("utf-8 version")
    }

    #[test]
    fn python_belongs_to_its_minimal_package() {
        let mut db = PackageDb::new();
        let root = own_root();
        let owner = db
            .dpkg_owner(&root, "/usr/bin/python3.11")
            .expect("python3.11 is packaged");
        assert_eq!(owner.manager, "dpkg");
        assert_eq!(owner.name, "python3.11-minimal");
        assert_eq!(owner.version, Some(dpkg_version("python3.11-minimal")));
        assert!(owner.maintainer.is_some());
    }

    #[test]
    fn usr_merge_finds_files_listed_under_bin() {
        let root = own_root();
        // coreutils lists /bin/sleep; the kernel names it /usr/bin/sleep.
        assert!(same_directory(&root, "/bin", "/usr/bin"));
        assert_eq!(
            usr_merge_aliases(&root, "/usr/bin/sleep"),
            ["/usr/bin/sleep", "/bin/sleep"]
        );
        assert_eq!(
            usr_merge_aliases(&root, "/lib/x86_64-linux-gnu/libc.so.6"),
            [
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/usr/lib/x86_64-linux-gnu/libc.so.6"
            ]
        );
        assert_eq!(usr_merge_aliases(&root, "/usr/share/x"), ["/usr/share/x"]);
        assert_eq!(usr_merge_aliases(&root, "/opt/x"), ["/opt/x"]);
        let mut db = PackageDb::new();
        let owner = db.dpkg_owner(&root, "/usr/bin/sleep").expect("sleep owner");
        assert_eq!(owner.name, "coreutils");
        assert_eq!(owner.version, Some(dpkg_version("coreutils")));
    }

    #[test]
    fn multi_arch_lists_name_the_package_without_arch() {
        let mut db = PackageDb::new();
        let owner = db
            .dpkg_owner(&own_root(), "/usr/lib/x86_64-linux-gnu/libc.so.6")
            .expect("libc owner");
        assert_eq!(owner.name, "libc6");
        assert_eq!(owner.version, Some(dpkg_version("libc6")));
    }

    #[test]
    fn unowned_paths_and_warm_lookups() {
        let mut db = PackageDb::new();
        let root = own_root();
        let started = Instant::now();
        assert_eq!(db.dpkg_owner(&root, "/nonexistent/gmr-test"), None);
        let cold = started.elapsed();
        assert_eq!(db.indexes.len(), 1, "one index per root");
        let started = Instant::now();
        assert!(db.dpkg_owner(&root, "/usr/bin/sleep").is_some());
        let warm = started.elapsed();
        assert_eq!(db.indexes.len(), 1, "the index is reused");
        println!("dpkg lookups: cold (index build) {cold:?}, warm {warm:?}");
    }

    #[test]
    fn status_stanzas() {
        let text = "Package: libfoo\nStatus: install ok installed\nArchitecture: amd64\n\
            Version: 1.0-1\nMaintainer: Foo Team <foo@example.org>\nDescription: x\n \
            Package: not-a-field\n\n\
            Package: libfoo\nStatus: deinstall ok config-files\nArchitecture: i386\n\
            Version: 0.9-1\n\n\
            Package: gone\nStatus: purge ok not-installed\nArchitecture: all\n";
        let entries = parse_status(text);
        let foo = &entries["libfoo"];
        assert!(foo.installed);
        assert_eq!(foo.version.as_deref(), Some("1.0-1"));
        assert_eq!(foo.maintainer.as_deref(), Some("Foo Team"));
        assert!(!entries["libfoo:i386"].installed);
        assert_eq!(entries["libfoo:i386"].version.as_deref(), Some("0.9-1"));
        assert!(!entries["gone"].installed);
        assert_eq!(entries["gone"].version, None);
    }
}
