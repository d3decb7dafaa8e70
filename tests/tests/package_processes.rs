//! The Package and Processes sections through the real agent: a Debian
//! Python running a module of a (fake) installed distribution, a C binary
//! owned by dpkg, a binary only another mount namespace has, a deleted
//! binary, and a process tree.

use std::{
    collections::HashMap,
    fs,
    io::{BufRead as _, BufReader, Lines},
    path::PathBuf,
    process::{Child, ChildStdout, Command, Stdio},
    time::Duration,
};

use gmr_tests::syscalls::{Signal, send_signal};
use gmr_tests::{
    agent::{report_json, run_agent, section},
    require_root, spawn_when_not_busy, workspace_root,
};

/// A child process killed and reaped when the test ends, with the other
/// pids it reported (its own children) killed too. Its stdout stays open,
/// so later writes do not kill it with SIGPIPE.
struct Running {
    child: Child,
    stdout: Option<Lines<BufReader<ChildStdout>>>,
    others: Vec<u32>,
}

impl Running {
    /// Wraps `child`, taking its stdout if piped.
    fn new(mut child: Child) -> Self {
        let stdout = child.stdout.take().map(|out| BufReader::new(out).lines());
        Self {
            child,
            stdout,
            others: Vec::new(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line the process printed.
    #[track_caller]
    fn line(&mut self) -> String {
        self.stdout
            .as_mut()
            .and_then(Iterator::next)
            .expect("the process printed another line")
            .expect("read a line")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for &pid in &self.others {
            let _ = send_signal(pid, Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` and waits for its first stdout line to be `ready`, so
/// it has exec'd and set itself up.
#[track_caller]
fn spawn_ready(command: &mut Command) -> Running {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the test process");
    let mut running = Running::new(child);
    assert_eq!(running.line(), "ready", "the test process did not start");
    running
}

/// Waits until `/proc/PID/exe` ends with `name` (a shell that said `ready`
/// is about to exec it).
fn wait_for_exec(pid: u32, name: &str) {
    for _ in 0..500 {
        if fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe.ends_with(name)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("process {pid} never exec'd {name}");
}

/// `dpkg-query`'s version of `package`: the reference.
fn dpkg_version(package: &str) -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", package])
        .output()
        .expect("run dpkg-query");
    assert!(out.status.success(), "dpkg-query {package} failed");
    String::from_utf8(out.stdout).expect("utf-8 version")
}

/// The text report for `pid`.
fn report_text(pid: u32) -> String {
    let out = run_agent(&["report", "--pid", &pid.to_string(), "--format", "text"]);
    assert!(
        out.status.success(),
        "gmr-agent report --pid {pid} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 report")
}

/// A copy of `/bin/sleep` next to the test binary (a directory that allows
/// exec), named for this test.
fn sleep_copy(label: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let copy = exe.with_file_name(format!("gmr-{label}-sleep-{}", std::process::id()));
    fs::copy("/bin/sleep", &copy).expect("copy sleep");
    copy
}

#[test]
fn debian_python_running_a_module_of_an_installed_distribution() {
    if !require_root() {
        return;
    }
    let site = workspace_root().join("tests/fixtures/pyservice");
    let service = spawn_ready(
        Command::new("/usr/bin/python3")
            .args(["-m", "myservice"])
            .env("PYTHONPATH", &site)
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    );
    let report = report_json(service.pid());
    let package = section(&report, "Package");
    assert_eq!(package["executable"], "/usr/bin/python3.11", "{package}");
    // Started as the symlink /usr/bin/python3, which python3-minimal owns;
    // the executable's own owner is named beside it.
    assert_eq!(package["started_as"], "/usr/bin/python3", "{package}");
    assert_eq!(package["distro_package"], "python3-minimal", "{package}");
    assert_eq!(
        package["distro_package_version"],
        dpkg_version("python3-minimal").as_str()
    );
    assert_eq!(
        package["executable_package"], "python3.11-minimal",
        "{package}"
    );
    assert_eq!(package["python_main"], "-m myservice", "{package}");
    assert_eq!(package["python_distribution"], "mydist", "{package}");
    assert_eq!(package["python_distribution_version"], "1.2.3", "{package}");
    assert_eq!(
        package["python_distribution_path"],
        format!("{}/mydist-1.2.3.dist-info", site.display()).as_str()
    );
    // oslo's keys: the service, not the interpreter.
    assert_eq!(package["product"], "mydist", "{package}");
    assert_eq!(package["version"], "1.2.3", "{package}");
    assert_eq!(package["vendor"], "Example Vendor", "{package}");

    let processes = section(&report, "Processes")["processes"]
        .as_array()
        .expect("processes array");
    assert_eq!(processes[0]["pid"], service.pid());
    assert_eq!(processes[0]["depth"], 0);
    let command_line = processes[0]["command_line"].as_str().expect("command line");
    assert_eq!(command_line, "/usr/bin/python3 -m myservice");

    let text = report_text(service.pid());
    for line in [
        "product = mydist\n",
        "version = 1.2.3\n",
        "vendor = Example Vendor\n",
        "python_main = -m myservice\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
}

/// The dpkg package owning `path`, as `dpkg -S` says: the reference.
fn dpkg_owner(path: &str) -> Option<String> {
    let out = Command::new("dpkg").args(["-S", path]).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    out.status
        .success()
        .then(|| text.split(':').next().unwrap_or("").trim().to_owned())
}

/// A Debian Python program run by its script (`/usr/bin/pygmentize`, from
/// python3-pygments, reading a stdin that stays open): Package names the
/// application's packages, its script's as the program and its Python
/// distribution's, besides the interpreter's, as dpkg does.
#[test]
fn debian_python_script_names_its_own_packages_besides_the_interpreters() {
    if !require_root() {
        return;
    }
    const SCRIPT: &str = "/usr/bin/pygmentize";
    let Some(script_owner) = dpkg_owner(SCRIPT) else {
        println!("SKIP: no {SCRIPT} from dpkg (apt-get install -y python3-pygments)");
        return;
    };
    let child = Command::new(SCRIPT)
        .args(["-l", "python"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start pygmentize");
    let running = Running::new(child);
    let pid = running.pid();
    // Reading its stdin means it imported its distribution and waits.
    for _ in 0..500 {
        let syscall = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        if syscall.starts_with("0 ") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = report_json(pid);
    let package = section(&report, "Package");
    assert_eq!(package["python_main"], SCRIPT, "{package}");
    assert_eq!(package["distro_package"], script_owner, "{package}");
    let distribution_path = package["python_distribution_path"]
        .as_str()
        .unwrap_or_else(|| panic!("no Python distribution found: {package}"));
    assert_eq!(
        package["python_distribution_package"].as_str(),
        dpkg_owner(distribution_path).as_deref(),
        "{package}"
    );
    let interpreter = package["executable"].as_str().expect("executable");
    assert_eq!(
        package["executable_package"].as_str(),
        dpkg_owner(interpreter).as_deref(),
        "the interpreter's package is still named: {package}"
    );
    println!(
        "{SCRIPT}: program package {}, distribution {} from {}, interpreter {}",
        package["distro_package"],
        package["python_distribution"],
        package["python_distribution_package"],
        interpreter
    );
}

#[test]
fn c_binary_owned_by_dpkg() {
    if !require_root() {
        return;
    }
    let sleep = Running::new(
        Command::new("/bin/sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep"),
    );
    let report = report_json(sleep.pid());
    let package = section(&report, "Package");
    let version = dpkg_version("coreutils");
    // dpkg lists /bin/sleep; the kernel names the /usr-merged path.
    assert_eq!(package["executable"], "/usr/bin/sleep", "{package}");
    assert_eq!(package["executable_host_path"], "/usr/bin/sleep");
    assert_eq!(package["distro_package"], "coreutils", "{package}");
    assert_eq!(package["distro_package_version"], version.as_str());
    assert_eq!(package["package_manager"], "dpkg");
    assert_eq!(package["product"], "coreutils");
    assert_eq!(package["version"], version.as_str());
    assert_eq!(package["vendor"], "Debian");
    assert_eq!(package["own_mount_namespace"], false);
    assert!(
        package["elf_interpreter"]
            .as_str()
            .is_some_and(|loader| loader.contains("ld-linux")),
        "{package}"
    );
    assert!(package["python_main"].is_null());
}

#[test]
fn binary_only_another_mount_namespace_has() {
    if !require_root() {
        return;
    }
    // The tmpfs exists only in the child's namespace (unshare makes its
    // mounts private), so its copy of sleep has no path on the host.
    let child = spawn_ready(Command::new("unshare").args([
        "-m",
        "sh",
        "-c",
        "mount -t tmpfs gmr-test /mnt && cp /bin/sleep /mnt/gmr-sleep && echo ready \
         && exec /mnt/gmr-sleep 60",
    ]));
    let pid = child.pid();
    wait_for_exec(pid, "gmr-sleep");
    let report = report_json(pid);
    let package = section(&report, "Package");
    assert_eq!(package["executable"], "/mnt/gmr-sleep", "{package}");
    assert_eq!(package["own_mount_namespace"], true);
    assert_eq!(package["executable_deleted"], false);
    assert_eq!(
        package["executable_host_path"],
        format!("/proc/{pid}/root/mnt/gmr-sleep").as_str()
    );
    assert!(package["build_id"].is_string(), "{package}");
    assert!(package["distro_package"].is_null(), "{package}");
    assert!(package["operating_system"].is_string(), "{package}");
    let text = report_text(pid);
    assert!(
        text.contains(&format!(
            "executable_host_path = /proc/{pid}/root/mnt/gmr-sleep (reachable only through the process's root)\n"
        )),
        "{text}"
    );
}

#[test]
fn deleted_binary_says_so() {
    if !require_root() {
        return;
    }
    let copy = sleep_copy("deleted");
    let child = spawn_when_not_busy(Command::new(&copy).arg("60"))
        .unwrap_or_else(|e| panic!("spawn the copy of sleep: {e}"));
    let sleep = Running::new(child);
    fs::remove_file(&copy).expect("delete the copy");
    let report = report_json(sleep.pid());
    let package = section(&report, "Package");
    assert_eq!(package["executable"], copy.to_str().expect("utf-8 path"));
    assert_eq!(package["executable_deleted"], true, "{package}");
    assert!(package["executable_host_path"].is_null(), "{package}");
    assert!(package["build_id"].is_string(), "{package}");
    let text = report_text(sleep.pid());
    assert!(text.contains("executable_deleted = true\n"), "{text}");
    assert!(
        text.contains("executable_host_path = <none: deleted>\n"),
        "{text}"
    );
}

#[test]
fn process_tree_in_pre_order() {
    if !require_root() {
        return;
    }
    // sh ─┬─ sleep (a)
    //     └─ sh (b) ── sleep (g)
    let mut tree = spawn_ready(Command::new("sh").args([
        "-c",
        "echo ready; sleep 60 & echo a=$!; sh -c 'sleep 60 & echo g=$!; wait' & echo b=$!; wait",
    ]));
    let pids = read_pids(&mut tree, &["a", "b", "g"]);
    let report = report_json(tree.pid());
    let rows: Vec<(u64, u64, u64)> = section(&report, "Processes")["processes"]
        .as_array()
        .expect("processes array")
        .iter()
        .map(|p| {
            let field = |name: &str| p[name].as_u64().unwrap_or_else(|| panic!("{name} in {p}"));
            (field("pid"), field("ppid"), field("depth"))
        })
        .collect();
    let root = u64::from(tree.pid());
    let (a, b, g) = (pids["a"], pids["b"], pids["g"]);
    // Children in pid order, each followed by its own subtree.
    let a_subtree = vec![(a, root, 1)];
    let b_subtree = vec![(b, root, 1), (g, b, 2)];
    let (first, second) = if a < b {
        (a_subtree, b_subtree)
    } else {
        (b_subtree, a_subtree)
    };
    let expected: Vec<(u64, u64, u64)> = [(root, u64::from(std::process::id()), 0)]
        .into_iter()
        .chain(first)
        .chain(second)
        .collect();
    assert_eq!(rows, expected);
}

/// Reads `name=pid` words from the process's output until all `names` came
/// (the shells print them in any order); the pids are killed with it.
fn read_pids(tree: &mut Running, names: &[&str]) -> HashMap<String, u64> {
    let mut pids = HashMap::new();
    while !names.iter().all(|name| pids.contains_key(*name)) {
        let line = tree.line();
        for word in line.split_whitespace() {
            let (name, pid) = word.split_once('=').expect("name=pid");
            let pid: u32 = pid.parse().expect("a pid");
            tree.others.push(pid);
            pids.insert(name.to_owned(), u64::from(pid));
        }
    }
    pids
}
