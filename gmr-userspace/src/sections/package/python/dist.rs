//! Which installed Python distribution owns a script or a module, from the
//! metadata directories in the process's `sys.path` directories.
//!
//! A `*.dist-info` directory lists its files in `RECORD` (CSV, paths relative
//! to the site directory); a `*.egg-info` directory in `installed-files.txt`
//! (relative to itself) or, for a source install, `SOURCES.txt`. Both may
//! name their top-level packages in `top_level.txt` and their launchers in
//! `entry_points.txt` — the last resort for distribution packages (Debian's
//! `python3-*`) that ship no file list at all.

use super::super::root::{RootFs, absolutize, file_name};

/// Largest file list read; `RECORD` of the biggest distributions is a few MiB.
const MAX_RECORD_SIZE: u64 = 32 * 1024 * 1024;

/// Largest part of `METADATA` read: the headers come first, before the
/// (possibly huge) long description.
const MAX_METADATA_HEAD: u64 = 64 * 1024;

/// Largest `top_level.txt` or `entry_points.txt` read.
const MAX_SMALL_FILE: u64 = 1024 * 1024;

/// An installed Python distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::sections::package) struct Distribution {
    /// Its name (`Name:` in its metadata).
    pub(in crate::sections::package) name: String,
    /// Its version (`Version:`).
    pub(in crate::sections::package) version: Option<String>,
    /// Its author (`Author:`, else the name in `Author-email:`).
    pub(in crate::sections::package) author: Option<String>,
    /// Its metadata directory, as the process sees it.
    pub(in crate::sections::package) path: String,
}

/// The distribution whose file list holds `script` (absolute, as the process
/// sees it), else the one declaring a console script of its file name.
pub(super) fn for_script(root: &RootFs, sys_path: &[String], script: &str) -> Option<Distribution> {
    let dists: Vec<MetadataDir> = sys_path
        .iter()
        .flat_map(|dir| metadata_dirs(root, dir))
        .collect();
    dists
        .iter()
        .find(|dist| dist.files(root).iter().any(|file| file == script))
        .or_else(|| {
            let name = file_name(script);
            dists
                .iter()
                .find(|dist| dist.console_scripts(root).iter().any(|s| s == name))
        })
        .map(|dist| dist.distribution(root))
}

/// The distribution providing module `module` (dotted), as imported from
/// `sys_path`: the first directory holding its top-level package or module
/// is where Python imports it from, and a distribution there owning the
/// module's file (else any file of the top-level package) is the answer;
/// failing that, any distribution naming the package in `top_level.txt`.
pub(super) fn for_module(root: &RootFs, sys_path: &[String], module: &str) -> Option<Distribution> {
    let top = module.split('.').next().filter(|top| !top.is_empty())?;
    let relative = module.replace('.', "/");
    let home = sys_path.iter().find(|dir| provides(root, dir, top));
    if let Some(home) = home {
        let exact: Vec<String> = [
            format!("{relative}.py"),
            format!("{relative}/__init__.py"),
            format!("{relative}/__main__.py"),
        ]
        .iter()
        .map(|file| format!("{home}/{file}"))
        .collect();
        let package_prefix = format!("{home}/{top}/");
        let top_module = format!("{home}/{top}.");
        let dists = metadata_dirs(root, home);
        let files: Vec<Vec<String>> = dists.iter().map(|dist| dist.files(root)).collect();
        let found = dists
            .iter()
            .zip(&files)
            .find(|(_, files)| files.iter().any(|file| exact.contains(file)))
            .or_else(|| {
                dists.iter().zip(&files).find(|(_, files)| {
                    files.iter().any(|file| {
                        file.starts_with(&package_prefix) || file.starts_with(&top_module)
                    })
                })
            });
        if let Some((dist, _)) = found {
            return Some(dist.distribution(root));
        }
    }
    sys_path
        .iter()
        .flat_map(|dir| metadata_dirs(root, dir))
        .find(|dist| dist.top_level(root).iter().any(|name| name == top))
        .map(|dist| dist.distribution(root))
}

/// True when `dir` holds package `top/` or a module file `top.*`.
fn provides(root: &RootFs, dir: &str, top: &str) -> bool {
    if root.is_dir(&format!("{dir}/{top}")) {
        return true;
    }
    let module_prefix = format!("{top}.");
    root.read_dir(dir).is_ok_and(|names| {
        names.iter().any(|name| {
            name.to_str().is_some_and(|name| {
                name.strip_prefix(&module_prefix)
                    .is_some_and(|ext| ext == "py" || ext.ends_with(".so") || ext == "so")
            })
        })
    })
}

/// Whether a metadata directory is a `.dist-info` or an `.egg-info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    DistInfo,
    EggInfo,
}

/// One `*.dist-info` or `*.egg-info` directory in a site directory.
#[derive(Debug)]
struct MetadataDir {
    kind: Kind,
    /// The site directory it is in.
    site: String,
    /// Its own path.
    path: String,
    /// Its directory name without the suffix: `name-version[-pyX.Y]`.
    stem: String,
}

/// The metadata directories in site directory `dir`, sorted by name.
fn metadata_dirs(root: &RootFs, dir: &str) -> Vec<MetadataDir> {
    let Ok(names) = root.read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<MetadataDir> = names
        .iter()
        .filter_map(|name| {
            let name = name.to_str()?;
            let (kind, stem) = if let Some(stem) = name.strip_suffix(".dist-info") {
                (Kind::DistInfo, stem)
            } else {
                (Kind::EggInfo, name.strip_suffix(".egg-info")?)
            };
            Some(MetadataDir {
                kind,
                site: dir.to_owned(),
                path: format!("{dir}/{name}"),
                stem: stem.to_owned(),
            })
        })
        .filter(|meta| root.is_dir(&meta.path))
        .collect();
    dirs.sort_by(|a, b| a.path.cmp(&b.path));
    dirs
}

impl MetadataDir {
    /// Reads `name` inside this directory as text, if present.
    fn read(&self, root: &RootFs, name: &str, limit: u64) -> Option<String> {
        root.read_text(&format!("{}/{name}", self.path), limit).ok()
    }

    /// The distribution's files as absolute paths (as the process sees them).
    fn files(&self, root: &RootFs) -> Vec<String> {
        let (text, base) = match self.kind {
            Kind::DistInfo => (self.read(root, "RECORD", MAX_RECORD_SIZE), &self.site),
            Kind::EggInfo => match self.read(root, "installed-files.txt", MAX_RECORD_SIZE) {
                Some(text) => (Some(text), &self.path),
                // Source lists are relative to the project, which for the
                // usual flat layout is the site directory.
                None => (self.read(root, "SOURCES.txt", MAX_RECORD_SIZE), &self.site),
            },
        };
        let Some(text) = text else {
            return Vec::new();
        };
        text.lines()
            .map(|line| match self.kind {
                Kind::DistInfo => record_path(line),
                Kind::EggInfo => line.trim(),
            })
            .filter(|path| !path.is_empty())
            .map(|path| absolutize(base, path))
            .collect()
    }

    /// Names in `top_level.txt`.
    fn top_level(&self, root: &RootFs) -> Vec<String> {
        self.read(root, "top_level.txt", MAX_SMALL_FILE)
            .map(|text| text.lines().map(|l| l.trim().to_owned()).collect())
            .unwrap_or_default()
    }

    /// Launcher names in `entry_points.txt`'s `console_scripts` and
    /// `gui_scripts` sections.
    fn console_scripts(&self, root: &RootFs) -> Vec<String> {
        let Some(text) = self.read(root, "entry_points.txt", MAX_SMALL_FILE) else {
            return Vec::new();
        };
        let mut scripts = Vec::new();
        let mut in_scripts = false;
        for line in text.lines().map(str::trim) {
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_scripts = matches!(section.trim(), "console_scripts" | "gui_scripts");
            } else if in_scripts && let Some((name, _)) = line.split_once('=') {
                scripts.push(name.trim().to_owned());
            }
        }
        scripts
    }

    /// Name, version and author from the metadata, else from the directory
    /// name.
    fn distribution(&self, root: &RootFs) -> Distribution {
        let metadata_file = match self.kind {
            Kind::DistInfo => "METADATA",
            Kind::EggInfo => "PKG-INFO",
        };
        let headers = root
            .read_head(&format!("{}/{metadata_file}", self.path), MAX_METADATA_HEAD)
            .map(|head| parse_headers(&String::from_utf8_lossy(&head)))
            .unwrap_or_default();
        let mut parts = self.stem.splitn(3, '-');
        let stem_name = parts.next().unwrap_or(&self.stem);
        let stem_version = parts.next().filter(|v| !v.is_empty());
        Distribution {
            name: headers.name.unwrap_or_else(|| stem_name.to_owned()),
            version: headers.version.or_else(|| stem_version.map(str::to_owned)),
            author: headers.author,
            path: self.path.clone(),
        }
    }
}

/// The path field of one `RECORD` line (`path,hash,size`; a path holding a
/// comma is double-quoted, with `""` for a quote).
fn record_path(line: &str) -> &str {
    if !line.starts_with('"') {
        return line.split(',').next().unwrap_or_default();
    }
    // Quoted paths are rare enough that only the unescaped form is kept.
    let inner = &line[1..];
    match inner.find("\",") {
        Some(end) if !inner[..end].contains("\"\"") => &inner[..end],
        _ => "",
    }
}

/// The metadata headers the report uses.
#[derive(Debug, Default, PartialEq, Eq)]
struct Headers {
    name: Option<String>,
    version: Option<String>,
    author: Option<String>,
}

/// Parses the email-style header block of `METADATA` / `PKG-INFO`.
fn parse_headers(text: &str) -> Headers {
    let mut headers = Headers::default();
    let mut author_email = None;
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() || value == "UNKNOWN" {
            continue;
        }
        match key {
            "Name" => headers.name = Some(value.to_owned()),
            "Version" => headers.version = Some(value.to_owned()),
            "Author" => headers.author = Some(value.to_owned()),
            "Author-email" => {
                // `OpenStack <openstack-discuss@…>`: the name part, if any.
                let name = value.split_once('<').map_or("", |(name, _)| name);
                let name = name.trim().trim_matches('"');
                author_email = (!name.is_empty()).then(|| name.to_owned());
            }
            _ => {}
        }
    }
    headers.author = headers.author.or(author_email);
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    /// A scratch site directory, removed on drop.
    struct Site(String);

    impl Site {
        fn new(label: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("gmr-dist-{label}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create site");
            Self(dir.to_str().expect("utf-8 temp dir").to_owned())
        }

        fn write(&self, relative: &str, text: &str) {
            let path = Path::new(&self.0).join(relative);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, text).expect("write");
        }
    }

    impl Drop for Site {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn own_root() -> RootFs {
        RootFs::open(std::process::id()).expect("own root")
    }

    #[test]
    fn record_lines() {
        assert_eq!(record_path("a/b.py,sha256=x,12"), "a/b.py");
        assert_eq!(record_path("a/RECORD,,"), "a/RECORD");
        assert_eq!(record_path("\"a,b.py\",sha256=x,1"), "a,b.py");
        assert_eq!(
            record_path("../../../bin/nova-api,sha256=x,1"),
            "../../../bin/nova-api"
        );
    }

    #[test]
    fn metadata_headers() {
        let headers = parse_headers(
            "Metadata-Version: 2.1\nName: oslo.reports\nVersion: 3.4.0\nAuthor: UNKNOWN\n\
             Author-email: OpenStack <openstack-discuss@lists.openstack.org>\n\nName: body\n",
        );
        assert_eq!(headers.name.as_deref(), Some("oslo.reports"));
        assert_eq!(headers.version.as_deref(), Some("3.4.0"));
        assert_eq!(headers.author.as_deref(), Some("OpenStack"));
    }

    #[test]
    fn module_from_record_and_name_from_directory() {
        let site = Site::new("module");
        site.write("myservice/__init__.py", "");
        site.write("myservice/api.py", "");
        site.write(
            "mydist-1.2.3.dist-info/RECORD",
            "myservice/__init__.py,,\nmyservice/api.py,,\n",
        );
        site.write("other-0.1.dist-info/RECORD", "other/__init__.py,,\n");
        let root = own_root();
        let path = vec![site.0.clone()];
        for module in ["myservice", "myservice.api", "myservice.missing"] {
            let dist = for_module(&root, &path, module).expect(module);
            assert_eq!(dist.name, "mydist");
            assert_eq!(dist.version.as_deref(), Some("1.2.3"));
            assert_eq!(dist.path, format!("{}/mydist-1.2.3.dist-info", site.0));
        }
        assert_eq!(for_module(&root, &path, "absent"), None);
    }

    #[test]
    fn module_from_top_level_of_an_egg() {
        let site = Site::new("egg");
        site.write("nova-27.0.0-py3.11.egg-info/top_level.txt", "nova\n");
        site.write(
            "nova-27.0.0-py3.11.egg-info/PKG-INFO",
            "Metadata-Version: 1.2\nName: nova\nVersion: 27.0.0\nAuthor: OpenStack\n",
        );
        let root = own_root();
        let dist = for_module(&root, std::slice::from_ref(&site.0), "nova.cmd.api").expect("nova");
        assert_eq!(dist.name, "nova");
        assert_eq!(dist.version.as_deref(), Some("27.0.0"));
        assert_eq!(dist.author.as_deref(), Some("OpenStack"));
    }

    #[test]
    fn scripts_from_record_installed_files_and_entry_points() {
        let venv = Site::new("venv");
        let site_dir = format!("{}/lib/python3.11/site-packages", venv.0);
        venv.write(
            "lib/python3.11/site-packages/nova-27.0.0.dist-info/RECORD",
            "../../../bin/nova-api,sha256=x,100\nnova/__init__.py,,\n",
        );
        venv.write(
            "lib/python3.11/site-packages/legacy-2.0-py3.11.egg-info/installed-files.txt",
            "../../../../bin/legacy-tool\n../legacy/__init__.py\n",
        );
        venv.write(
            "lib/python3.11/site-packages/debpkg-5.0.egg-info/entry_points.txt",
            "[console_scripts]\ndebpkg-api = debpkg.cmd:main\n\n[other]\nx = y\n",
        );
        let root = own_root();
        let path = vec![site_dir];
        let nova = for_script(&root, &path, &format!("{}/bin/nova-api", venv.0)).expect("nova");
        assert_eq!(
            (nova.name.as_str(), nova.version.as_deref()),
            ("nova", Some("27.0.0"))
        );
        let legacy = for_script(&root, &path, &format!("{}/bin/legacy-tool", venv.0));
        assert_eq!(legacy.expect("legacy").name, "legacy");
        let deb = for_script(&root, &path, "/usr/bin/debpkg-api").expect("entry point");
        assert_eq!(
            (deb.name.as_str(), deb.version.as_deref()),
            ("debpkg", Some("5.0"))
        );
        assert_eq!(for_script(&root, &path, "/usr/bin/x"), None);
    }
}
