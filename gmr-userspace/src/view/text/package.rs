//! Text of the Package section.

use std::fmt::{self, Formatter};

use super::{UNKNOWN, clean, or_unknown};
use crate::model::Package;

/// Writes the Package section as `key = value` lines sorted by key, as
/// oslo's key-value view does.
///
/// The `python_*` keys appear only for Python interpreters, where they
/// mean something. Two values carry a note, since the bare value would
/// mislead: a package version when the running executable was deleted (it
/// is the version installed now), and a host path that leads through
/// `/proc/PID/root` (the process's own path means nothing to the host).
/// `started_as` and `executable_package` appear only when the program was
/// started through another path (a symlink) and, for the latter, that path
/// has another owner than the executable.
pub(super) fn write(f: &mut Formatter<'_>, package: &Package) -> fmt::Result {
    let python = package.python_main.is_some();
    let deleted_note = if package.executable_deleted && package.distro_package_version.is_some() {
        " (installed now; the running executable was deleted)"
    } else {
        ""
    };
    let host_path = match (&package.executable_host_path, package.executable_deleted) {
        (Some(path), _) if package.executable.as_ref() != Some(path) => {
            format!(
                "{} (reachable only through the process's root)",
                clean(path)
            )
        }
        (Some(path), _) => clean(path).into_owned(),
        (None, true) => "<none: deleted>".to_owned(),
        (None, false) => UNKNOWN.to_owned(),
    };
    let line = |f: &mut Formatter<'_>, key: &str, value: Option<&String>| {
        writeln!(f, "{key} = {}", or_unknown(value.map(String::as_str)))
    };
    line(f, "build_id", package.build_id.as_ref())?;
    line(f, "distro_package", package.distro_package.as_ref())?;
    writeln!(
        f,
        "distro_package_version = {}{deleted_note}",
        or_unknown(package.distro_package_version.as_deref())
    )?;
    line(f, "elf_interpreter", package.elf_interpreter.as_ref())?;
    line(f, "executable", package.executable.as_ref())?;
    writeln!(f, "executable_deleted = {}", package.executable_deleted)?;
    writeln!(f, "executable_host_path = {host_path}")?;
    if let Some(owner) = &package.executable_package {
        writeln!(
            f,
            "executable_package = {} (owns the executable, not the program)",
            clean(owner)
        )?;
    }
    writeln!(f, "gmr_version = {}", clean(&package.gmr_version))?;
    if let Some(go) = &package.go_version {
        writeln!(f, "go_version = {}", clean(go))?;
    }
    writeln!(f, "kernel = {}", clean(&package.kernel))?;
    line(f, "operating_system", package.operating_system.as_ref())?;
    writeln!(f, "own_mount_namespace = {}", package.own_mount_namespace)?;
    line(f, "package_manager", package.package_manager.as_ref())?;
    line(f, "product", package.product.as_ref())?;
    if python {
        line(
            f,
            "python_distribution",
            package.python_distribution.as_ref(),
        )?;
        line(
            f,
            "python_distribution_package",
            package.python_distribution_package.as_ref(),
        )?;
        line(
            f,
            "python_distribution_path",
            package.python_distribution_path.as_ref(),
        )?;
        line(
            f,
            "python_distribution_version",
            package.python_distribution_version.as_ref(),
        )?;
        line(f, "python_main", package.python_main.as_ref())?;
    }
    if let Some(path) = &package.started_as {
        writeln!(f, "started_as = {}", clean(path))?;
    }
    line(f, "vendor", package.vendor.as_ref())?;
    line(f, "version", package.version.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Display;

    struct Text<'a>(&'a Package);

    impl Display for Text<'_> {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            write(f, self.0)
        }
    }

    fn python_service() -> Package {
        Package {
            vendor: None,
            product: Some("mydist".to_owned()),
            version: Some("1.2.3".to_owned()),
            executable: Some("/usr/bin/python3.11".to_owned()),
            executable_host_path: Some("/usr/bin/python3.11".to_owned()),
            build_id: Some("0123abcd".to_owned()),
            elf_interpreter: Some("/lib64/ld-linux-x86-64.so.2".to_owned()),
            operating_system: Some("Debian GNU/Linux 12 (bookworm)".to_owned()),
            distro_package: Some("python3.11-minimal".to_owned()),
            distro_package_version: Some("3.11.2-6+deb12u6".to_owned()),
            package_manager: Some("dpkg".to_owned()),
            python_main: Some("-m myservice".to_owned()),
            python_distribution: Some("mydist".to_owned()),
            python_distribution_version: Some("1.2.3".to_owned()),
            python_distribution_package: Some("python3-mydist".to_owned()),
            python_distribution_path: Some("/srv/site/mydist-1.2.3.dist-info".to_owned()),
            gmr_version: "0.1.0".to_owned(),
            kernel: "6.18.0".to_owned(),
            ..Package::default()
        }
    }

    #[test]
    fn python_service_lines_are_sorted() {
        let text = Text(&python_service()).to_string();
        assert_eq!(
            text,
            "build_id = 0123abcd
distro_package = python3.11-minimal
distro_package_version = 3.11.2-6+deb12u6
elf_interpreter = /lib64/ld-linux-x86-64.so.2
executable = /usr/bin/python3.11
executable_deleted = false
executable_host_path = /usr/bin/python3.11
gmr_version = 0.1.0
kernel = 6.18.0
operating_system = Debian GNU/Linux 12 (bookworm)
own_mount_namespace = false
package_manager = dpkg
product = mydist
python_distribution = mydist
python_distribution_package = python3-mydist
python_distribution_path = /srv/site/mydist-1.2.3.dist-info
python_distribution_version = 1.2.3
python_main = -m myservice
vendor = <unknown>
version = 1.2.3
"
        );
        let keys: Vec<&str> = text.lines().filter_map(|l| l.split(" = ").next()).collect();
        assert!(keys.is_sorted(), "{keys:?}");
    }

    #[test]
    fn notes_for_deleted_and_foreign_executables() {
        let deleted = Package {
            executable_deleted: true,
            executable_host_path: None,
            python_main: None,
            ..python_service()
        };
        let text = Text(&deleted).to_string();
        assert!(
            text.contains("\nexecutable_host_path = <none: deleted>\n"),
            "{text}"
        );
        assert!(
            text.contains("= 3.11.2-6+deb12u6 (installed now; the running executable was deleted)"),
            "{text}"
        );
        assert!(!text.contains("python_"), "{text}");
        let foreign = Package {
            own_mount_namespace: true,
            executable: Some("/opt/x".to_owned()),
            executable_host_path: Some("/proc/42/root/opt/x".to_owned()),
            ..python_service()
        };
        let text = Text(&foreign).to_string();
        assert!(
            text.contains(
                "\nexecutable_host_path = /proc/42/root/opt/x (reachable only through the process's root)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn started_through_a_symlink_of_another_package() {
        let redis = Package {
            executable: Some("/usr/bin/redis-check-rdb".to_owned()),
            started_as: Some("/usr/bin/redis-server".to_owned()),
            distro_package: Some("redis-server".to_owned()),
            executable_package: Some("redis-tools".to_owned()),
            python_main: None,
            ..python_service()
        };
        let text = Text(&redis).to_string();
        assert!(
            text.contains(
                "\nexecutable_package = redis-tools (owns the executable, not the program)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\nstarted_as = /usr/bin/redis-server\n"),
            "{text}"
        );
        assert!(text.contains("\ndistro_package = redis-server\n"), "{text}");
        let keys: Vec<&str> = text.lines().filter_map(|l| l.split(" = ").next()).collect();
        assert!(keys.is_sorted(), "{keys:?}");
    }
}
