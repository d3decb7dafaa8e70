//! The Package section: which executable the process runs, whether it has
//! been deleted or replaced since, its GNU build-id, and the host kernel.
//!
//! Everything is read through `/proc/PID/exe`, which names the very inode
//! the process executes: it still works when the file was deleted or
//! upgraded in place, and when the process lives in another mount
//! namespace where its path means something else to the agent.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader as _, SectionHeader as _};
use object::{Endianness, FileKind, ReadCache, ReadRef};

use super::describe_io_error;
use crate::model::Package;

/// The section's title in reports.
pub const TITLE: &str = "Package";

/// What the kernel appends to `/proc/PID/exe` once the file is unlinked.
const DELETED_SUFFIX: &[u8] = b" (deleted)";

/// Largest note section or segment searched for a build-id. Real ones are
/// a few hundred bytes; the cap stops a crafted ELF from making the agent
/// read (and cache) its whole file once per bogus note header.
const MAX_NOTES_SIZE: u64 = 64 * 1024;

/// Generates the Package section for process `pid`.
///
/// Fails only when the process does not exist or its executable link cannot
/// be read; a process without an executable (a kernel thread, a zombie) or
/// an executable without a build-id gives `None` for those fields.
pub fn package(pid: u32) -> Result<Package, String> {
    let exe_link = format!("/proc/{pid}/exe");
    let (executable, executable_deleted, build_id) = match fs::read_link(&exe_link) {
        Ok(target) => {
            let exe = File::open(&exe_link);
            let (path, deleted) = split_deleted(target.as_os_str(), exe.as_ref().ok());
            let build_id = exe
                .map_err(|error| describe_io_error(&error))
                .and_then(|file| read_build_id(&file).map_err(|error| error.to_string()))
                .unwrap_or_else(|error| {
                    log::debug!("no build-id for {exe_link}: {error}");
                    None
                });
            (Some(path.to_string_lossy().into_owned()), deleted, build_id)
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return Err(format!("process {pid} does not exist"));
            }
            // Kernel threads and zombies have no executable to link to.
            (None, false, None)
        }
        Err(error) => {
            return Err(format!(
                "cannot read {exe_link}: {}",
                describe_io_error(&error)
            ));
        }
    };
    Ok(Package {
        executable,
        executable_deleted,
        build_id,
        gmr_version: env!("CARGO_PKG_VERSION").to_owned(),
        kernel: kernel_release()?,
    })
}

/// Splits the kernel's ` (deleted)` marker off an exe link target.
///
/// The marker is believed only if the open executable really has no links
/// left (when it could be opened), since a file may be named `x (deleted)`.
fn split_deleted<'a>(target: &'a OsStr, exe: Option<&File>) -> (&'a OsStr, bool) {
    let Some(path) = target.as_bytes().strip_suffix(DELETED_SUFFIX) else {
        return (target, false);
    };
    let unlinked = exe.is_none_or(|file| file.metadata().is_ok_and(|meta| meta.nlink() == 0));
    if unlinked {
        (OsStr::from_bytes(path), true)
    } else {
        (target, false)
    }
}

/// The GNU build-id of the ELF file `file`, as lowercase hex.
///
/// Reads only the headers and note sections, not the whole executable.
fn read_build_id(file: &File) -> object::Result<Option<String>> {
    let cache = ReadCache::new(file);
    let data = &cache;
    let id = match FileKind::parse(data)? {
        FileKind::Elf32 => elf_build_id::<elf::FileHeader32<Endianness>, _>(data)?,
        FileKind::Elf64 => elf_build_id::<elf::FileHeader64<Endianness>, _>(data)?,
        _ => None,
    };
    Ok(id.map(|bytes| bytes.iter().map(|byte| format!("{byte:02x}")).collect()))
}

/// Finds the `NT_GNU_BUILD_ID` note, in note sections or else note segments.
fn elf_build_id<'data, Elf: FileHeader, R: ReadRef<'data>>(
    data: R,
) -> object::Result<Option<&'data [u8]>> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    for section in header.section_headers(endian, data)? {
        if section.sh_size(endian).into() > MAX_NOTES_SIZE {
            continue;
        }
        if let Some(notes) = section.notes(endian, data)?
            && let Some(id) = gnu_build_id(notes, endian)?
        {
            return Ok(Some(id));
        }
    }
    // Section headers can be stripped; the loader's note segment cannot.
    for segment in header.program_headers(endian, data)? {
        if segment.p_filesz(endian).into() > MAX_NOTES_SIZE {
            continue;
        }
        if let Some(notes) = segment.notes(endian, data)?
            && let Some(id) = gnu_build_id(notes, endian)?
        {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// The description of the first GNU build-id note in `notes`.
fn gnu_build_id<'data, Elf: FileHeader>(
    mut notes: object::read::elf::NoteIterator<'data, Elf>,
    endian: Elf::Endian,
) -> object::Result<Option<&'data [u8]>> {
    while let Some(note) = notes.next()? {
        if note.name() == elf::ELF_NOTE_GNU && note.n_type(endian) == elf::NT_GNU_BUILD_ID {
            return Ok(Some(note.desc()));
        }
    }
    Ok(None)
}

/// The running kernel's release, as `uname -r` prints it.
fn kernel_release() -> Result<String, String> {
    let mut uts = MaybeUninit::<libc::utsname>::zeroed();
    // SAFETY: uname fills the struct it is given and returns 0 on success.
    if unsafe { libc::uname(uts.as_mut_ptr()) } != 0 {
        let error = io::Error::last_os_error();
        return Err(format!("uname: {}", describe_io_error(&error)));
    }
    // SAFETY: uname succeeded, and the struct started zeroed anyway.
    let uts = unsafe { uts.assume_init() };
    // c_char is i8 on some targets; each is one byte of the NUL-terminated name.
    let release: Vec<u8> = uts
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&release).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::Duration;

    use crate::test_support::Reaped;

    fn build_id_of(path: &Path) -> Option<String> {
        let bytes = fs::read(path).expect("read executable");
        let file = object::File::parse(&*bytes).expect("parse executable");
        object::Object::build_id(&file)
            .expect("notes parse")
            .map(|id| id.iter().map(|b| format!("{b:02x}")).collect())
    }

    #[test]
    fn package_of_this_process() {
        let package = package(std::process::id()).expect("package");
        let exe = std::env::current_exe().expect("current_exe");
        assert_eq!(package.executable.as_deref(), exe.to_str());
        assert!(!package.executable_deleted);
        let build_id = package.build_id.expect("test binary has a build-id");
        assert!(build_id.len() >= 16, "{build_id}");
        assert_eq!(Some(build_id), build_id_of(&exe));
        assert_eq!(package.gmr_version, env!("CARGO_PKG_VERSION"));
        let mut uname = Command::new("uname").arg("-r").output().expect("uname -r");
        assert!(uname.status.success());
        uname.stdout.pop();
        assert_eq!(package.kernel.as_bytes(), uname.stdout);
    }

    #[test]
    fn nonexistent_process() {
        assert_eq!(
            package(u32::MAX).expect_err("no such process"),
            "process 4294967295 does not exist"
        );
    }

    #[test]
    fn deleted_executable_keeps_its_build_id() {
        let original = Path::new("/bin/sleep");
        let expected_id = build_id_of(original);
        // Next to the test binary: a directory that certainly allows exec.
        let exe = std::env::current_exe().expect("current_exe");
        let copy = exe.with_file_name(format!("gmr-package-test-sleep-{}", std::process::id()));
        fs::copy(original, &copy).expect("copy sleep");
        // Another test thread forking while the copy was open for writing
        // can make exec fail with ETXTBSY for a moment; retry briefly.
        let mut attempts = 0;
        let child = loop {
            match Command::new(&copy).arg("30").spawn() {
                Ok(child) => break Reaped(child),
                Err(error) if error.raw_os_error() == Some(libc::ETXTBSY) && attempts < 50 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(error) => panic!("spawn copy of sleep: {error}"),
            }
        };
        fs::remove_file(&copy).expect("delete copy");
        let package = package(child.0.id()).expect("package");
        assert_eq!(package.executable.as_deref(), copy.to_str());
        assert!(package.executable_deleted);
        assert_eq!(package.build_id, expected_id);
    }

    #[test]
    fn deleted_marker_needs_an_unlinked_file() {
        let live = File::open("/bin/sh").expect("open /bin/sh");
        let target = OsStr::new("/opt/x (deleted)");
        assert_eq!(split_deleted(target, Some(&live)), (target, false));
        assert_eq!(split_deleted(target, None), (OsStr::new("/opt/x"), true));
        assert_eq!(
            split_deleted(OsStr::new("/bin/sh"), Some(&live)),
            (OsStr::new("/bin/sh"), false)
        );
    }
}
