//! Which Debian package owns a file, from the dpkg database the process
//! itself sees (`/var/lib/dpkg` through its root), and that package's
//! installed version.
//!
//! A report asks about one file (the executable), so a lookup reads the
//! `info/*.list` files and searches them for that one line, as `dpkg -S`
//! does (about 10 MB on a desktop, a few milliseconds from the page cache);
//! nothing is indexed. [`PackageDb`] remembers each root's parsed `status`
//! and the answers it gave, until `status` changes, which dpkg rewrites on
//! every install or removal.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::time::Instant;

use memchr::memmem;

use super::DistroPackage;
use super::root::RootFs;

/// The dpkg database directory, inside the process's root.
const DPKG_DIR: &str = "/var/lib/dpkg";

/// Largest `status` file read; big distributions have a few megabytes.
const MAX_STATUS_SIZE: u64 = 256 * 1024 * 1024;

/// Largest single `*.list` file read; the biggest packages list ~100k paths.
const MAX_LIST_SIZE: u64 = 64 * 1024 * 1024;

/// How many filesystem roots (host, containers) are remembered at once.
const MAX_ROOTS: usize = 8;

/// How many answers one root remembers.
const MAX_ANSWERS: usize = 256;

/// Top-level directories that `/usr`-merged systems make symlinks into
/// `/usr`, so a file listed as `/bin/x` is found at `/usr/bin/x`.
const MERGED_DIRS: [&str; 7] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"];

/// What the agent remembers of dpkg databases, one per filesystem root; it
/// keeps one `PackageDb` for all its reports, so a service reported again
/// costs a `stat` of `status`.
#[derive(Debug, Default)]
pub struct PackageDb {
    /// Least recently used first.
    roots: Vec<DpkgRoot>,
}

impl PackageDb {
    /// Remembers nothing yet.
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
        let db = self.root_for(root, stamp)?;
        if let Some(answer) = db.answers.get(path) {
            return answer.clone();
        }
        let started = Instant::now();
        let aliases = usr_merge_aliases(root, path);
        let answer = db.owner(root, &aliases);
        log::debug!(
            "dpkg lists of {} searched for {path} in {:?}",
            root.host_view(DPKG_DIR),
            started.elapsed()
        );
        if db.answers.len() >= MAX_ANSWERS {
            db.answers.clear();
        }
        db.answers.insert(path.to_owned(), answer.clone());
        answer
    }

    /// The configuration files of the dpkg package `name` in `root`:
    /// its `Conffiles:`, obsolete ones left out.
    pub(super) fn dpkg_conffiles(&mut self, root: &RootFs, name: &str) -> Vec<String> {
        let status_path = format!("{DPKG_DIR}/status");
        let Ok(meta) = root.metadata(&status_path) else {
            return Vec::new();
        };
        self.root_for(root, Stamp::of(&meta))
            .and_then(|db| db.status.get(name))
            .map(|entry| entry.conffiles.clone())
            .unwrap_or_default()
    }

    /// The up-to-date database of `root`, its `status` read now if missing
    /// or stale.
    fn root_for(&mut self, root: &RootFs, stamp: Stamp) -> Option<&mut DpkgRoot> {
        let key = root.identity();
        if let Some(at) = self.roots.iter().position(|db| db.root == key) {
            let db = self.roots.remove(at);
            if db.stamp == stamp {
                self.roots.push(db);
                return self.roots.last_mut();
            }
        }
        let db = DpkgRoot::read(root, key, stamp)?;
        if self.roots.len() >= MAX_ROOTS {
            self.roots.remove(0);
        }
        self.roots.push(db);
        self.roots.last_mut()
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

/// One root's dpkg database as far as lookups read it.
#[derive(Debug)]
struct DpkgRoot {
    /// The root directory's device and inode.
    root: (u64, u64),
    /// The `status` file read.
    stamp: Stamp,
    /// `status` entries by `name` and by `name:arch`.
    status: HashMap<String, StatusEntry>,
    /// Owners found (or not) per path asked about.
    answers: HashMap<String, Option<DistroPackage>>,
}

/// What `status` says about one package.
#[derive(Clone, Debug, Default)]
struct StatusEntry {
    version: Option<String>,
    maintainer: Option<String>,
    installed: bool,
    /// `Conffiles:` paths still in use, in the order listed.
    conffiles: Vec<String>,
}

impl DpkgRoot {
    /// Reads `status` of `root`.
    fn read(root: &RootFs, key: (u64, u64), stamp: Stamp) -> Option<Self> {
        let status_path = format!("{DPKG_DIR}/status");
        match root.read_text(&status_path, MAX_STATUS_SIZE) {
            Ok(text) => Some(Self {
                root: key,
                stamp,
                status: parse_status(&text),
                answers: HashMap::new(),
            }),
            Err(error) => {
                log::debug!("cannot read {}: {error}", root.host_view(&status_path));
                None
            }
        }
    }

    /// The installed package listing one of `paths` (names of one file),
    /// from the `info/*.list` files.
    fn owner(&self, root: &RootFs, paths: &[String]) -> Option<DistroPackage> {
        let info = format!("{DPKG_DIR}/info");
        let names = match root.read_dir(&info) {
            Ok(names) => names,
            Err(error) => {
                log::debug!("cannot list {}: {error}", root.host_view(&info));
                return None;
            }
        };
        let finders = paths
            .iter()
            .map(|path| memmem::Finder::new(path.as_bytes()))
            .collect::<Vec<_>>();
        let mut owners = Vec::new();
        for name in names {
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".list")) else {
                continue;
            };
            let list_path = format!("{info}/{stem}.list");
            match root.read(&list_path, MAX_LIST_SIZE) {
                Ok(text) if finders.iter().any(|finder| has_line(&text, finder)) => {
                    owners.push((stem.to_owned(), self.status_of(stem)));
                }
                Ok(_) => {}
                Err(error) => log::debug!("skipping {}: {error}", root.host_view(&list_path)),
            }
        }
        // A stale list of a removed package must not win over the real owner.
        owners.sort_by_key(|(_, entry)| !entry.installed);
        let (stem, entry) = owners.into_iter().next()?;
        let name = stem.split_once(':').map_or(stem.as_str(), |(name, _)| name);
        Some(DistroPackage {
            manager: "dpkg",
            name: name.to_owned(),
            version: entry.version.clone(),
            vendor: None,
            maintainer: entry.maintainer.clone(),
        })
    }

    /// The status entry for a list stem (`name` or `name:arch`).
    fn status_of(&self, stem: &str) -> &StatusEntry {
        static UNKNOWN: StatusEntry = StatusEntry {
            version: None,
            maintainer: None,
            installed: false,
            conffiles: Vec::new(),
        };
        let bare = stem.split_once(':').map_or(stem, |(name, _)| name);
        self.status
            .get(stem)
            .or_else(|| self.status.get(bare))
            .unwrap_or(&UNKNOWN)
    }
}

/// True when `text` has a line that is exactly the `finder`'s needle.
fn has_line(text: &[u8], finder: &memmem::Finder<'_>) -> bool {
    let len = finder.needle().len();
    finder.find_iter(text).any(|at| {
        (at == 0 || text[at - 1] == b'\n') && text.get(at + len).is_none_or(|&b| b == b'\n')
    })
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
        let mut in_conffiles = false;
        for line in stanza.lines() {
            // Continuation lines start with a space; only Conffiles' matter:
            // ` /etc/x <md5>`, with ` obsolete` or ` remove-on-upgrade` after.
            if let Some(continuation) = line.strip_prefix(' ') {
                let mut words = continuation.split_whitespace();
                if in_conffiles
                    && let (Some(path), Some(_md5), None) =
                        (words.next(), words.next(), words.next())
                {
                    entry.conffiles.push(path.to_owned());
                }
                continue;
            }
            let Some((field, value)) = line.split_once(':') else {
                continue;
            };
            in_conffiles = field == "Conffiles";
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
    fn unowned_paths_and_remembered_answers() {
        let mut db = PackageDb::new();
        let root = own_root();
        let started = Instant::now();
        assert_eq!(db.dpkg_owner(&root, "/nonexistent/gmr-test"), None);
        let searched = started.elapsed();
        assert_eq!(db.roots.len(), 1, "one database per root");
        let owner = db.dpkg_owner(&root, "/usr/bin/sleep");
        assert!(owner.is_some());
        let started = Instant::now();
        assert_eq!(db.dpkg_owner(&root, "/usr/bin/sleep"), owner);
        let remembered = started.elapsed();
        assert_eq!(db.roots.len(), 1, "the root's database is reused");
        assert_eq!(db.roots[0].answers.len(), 2);
        println!("dpkg lookups: searched {searched:?}, remembered {remembered:?}");
    }

    #[test]
    fn only_whole_lines_match() {
        let finder = memmem::Finder::new(b"/usr/bin/ls");
        assert!(has_line(b"/usr/bin/ls", &finder));
        assert!(has_line(b"/.\n/usr/bin/ls\n/usr/bin/lsblk\n", &finder));
        assert!(!has_line(b"/usr/bin/lsblk\n/usr/bin/ls.d\n", &finder));
        assert!(!has_line(b"/opt/usr/bin/ls\n", &finder));
    }

    #[test]
    fn status_stanzas() {
        let text = "Package: libfoo\nStatus: install ok installed\nArchitecture: amd64\n\
            Version: 1.0-1\nMaintainer: Foo Team <foo@example.org>\nConffiles:\n \
            /etc/foo.conf 0123abcd\n /etc/old.conf 4567ef01 obsolete\n \
            /etc/default/foo 89ab\nDescription: x\n \
            Package: not-a-field\n /etc/not-conffile x\n\n\
            Package: libfoo\nStatus: deinstall ok config-files\nArchitecture: i386\n\
            Version: 0.9-1\n\n\
            Package: gone\nStatus: purge ok not-installed\nArchitecture: all\n";
        let entries = parse_status(text);
        let foo = &entries["libfoo"];
        assert!(foo.installed);
        assert_eq!(foo.version.as_deref(), Some("1.0-1"));
        assert_eq!(foo.maintainer.as_deref(), Some("Foo Team"));
        assert_eq!(foo.conffiles, ["/etc/foo.conf", "/etc/default/foo"]);
        assert!(!entries["libfoo:i386"].installed);
        assert_eq!(entries["libfoo:i386"].version.as_deref(), Some("0.9-1"));
        assert!(!entries["gone"].installed);
        assert_eq!(entries["gone"].version, None);
    }
}
