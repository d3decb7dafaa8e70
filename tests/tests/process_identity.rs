//! Who a real daemon is, through the real agent: Debian's nginx, redis and
//! postgres, started by hand on 127.0.0.1 in a throwaway cgroup, rewrite
//! their command lines into process titles; Python's setproctitle does the
//! same, and a Python script writes one over its arguments alone (its
//! environment intact, and shown). The report must show each title once,
//! never show the overwritten
//! environment area as variables, still find the configuration (and say
//! how), and name the package the user started (redis-server, not the
//! redis-tools that owns its symlink's target).
//!
//! References are independent of gmr: `/proc/PID/cmdline` read here,
//! `dpkg-query` for packages and conffiles, the config paths the test
//! itself passed. Daemons are only ever reported with `report --pid` (no
//! signal: nginx takes SIGUSR2 as "upgrade the binary").

use std::{
    ffi::CString,
    fs,
    net::TcpListener,
    os::unix::{ffi::OsStrExt as _, fs::PermissionsExt as _, process::CommandExt as _},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use gmr_tests::{
    TestCgroup,
    agent::{report_json, section},
    require_root,
    scratch::Scratch,
};
use serde_json::Value;

/// How long a daemon may take to start and set its titles.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A daemon started by the test in its own cgroup; dropping it kills the
/// whole group (master, workers, children).
struct Daemon {
    child: Child,
    cgroup: TestCgroup,
}

impl Daemon {
    /// Starts `command` in a new cgroup, output discarded. The child joins
    /// the group before it execs, so nothing it forks (`runuser` forks at
    /// once) can escape the group's cleanup.
    #[track_caller]
    fn start(command: &mut Command) -> Self {
        let cgroup = TestCgroup::create();
        let procs = CString::new(cgroup.path().join("cgroup.procs").as_os_str().as_bytes())
            .expect("a path without NUL");
        // SAFETY: the closure only calls open, write and close, which are
        // async-signal-safe, on memory prepared before the fork.
        let child = unsafe {
            command.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // "0" means the writing process itself.
                let written = libc::write(fd, c"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        }
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
        Self { child, cgroup }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until some process of the daemon satisfies `found`, with its
    /// raw `cmdline`; returns its pid.
    #[track_caller]
    fn wait_for(&mut self, what: &str, found: impl Fn(u32, &[u8]) -> bool) -> u32 {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the daemon exited ({status}) before {what}");
            }
            for pid in self.cgroup.processes() {
                if let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline"))
                    && found(pid, &cmdline)
                {
                    return pid;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no process of the daemon showed {what} within {START_TIMEOUT:?}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // The cgroup's own drop kills everything left inside.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when `program` is installed; else prints why the test skips.
fn installed(program: &str, package: &str) -> bool {
    if Path::new(program).exists() {
        return true;
    }
    let status = Command::new("apt-get")
        .args(["install", "-y", "-q", package])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if status.is_ok_and(|s| s.success()) && Path::new(program).exists() {
        return true;
    }
    println!("SKIP: {package} is not installed and apt-get cannot install it");
    false
}

/// A TCP port free on 127.0.0.1 at the time of asking.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// `cmdline` as the text a title is: up to the first NUL, trailing blanks
/// dropped.
fn title_of(cmdline: &[u8]) -> String {
    let end = cmdline
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(cmdline.len());
    String::from_utf8_lossy(&cmdline[..end])
        .trim_end()
        .to_owned()
}

/// The configuration section's files as `(path, found_by)`.
fn files(configuration: &Value) -> Vec<(String, Value)> {
    configuration["files"]
        .as_array()
        .expect("files array")
        .iter()
        .map(|file| {
            (
                file["path"].as_str().expect("path").to_owned(),
                file["found_by"].clone(),
            )
        })
        .collect()
}

/// Checks the Configuration and Processes sections of a report on `pid`,
/// whose command line is the title `title`: shown once, flagged, and the
/// environment never shown as variables unless it is what the test set.
#[track_caller]
fn assert_title_shown_once(report: &Value, pid: u32, title: &str, environment_set: &[&str]) {
    let configuration = section(report, "Configuration");
    assert_eq!(
        configuration["command_line"],
        serde_json::json!([title]),
        "{configuration}"
    );
    assert_eq!(configuration["command_line_rewritten"], true);
    let variables = configuration["environment"]
        .as_array()
        .expect("environment");
    if variables.is_empty() {
        let error = configuration["environment_error"]
            .as_str()
            .unwrap_or_default();
        assert!(error.contains("no variables are shown"), "{configuration}");
    }
    for variable in variables {
        let name = variable["name"].as_str().expect("name");
        assert!(
            environment_set.contains(&name),
            "variable {name} was never set: a fragment of the title? {configuration}"
        );
    }
    let processes = section(report, "Processes")["processes"]
        .as_array()
        .expect("processes");
    let me = processes
        .iter()
        .find(|p| p["pid"] == pid)
        .expect("the target in Processes");
    assert_eq!(me["command_line"], title, "{me}");
    assert_eq!(me["command_line_rewritten"], true, "{me}");
}

#[test]
fn nginx_master_and_worker_titles_and_the_config_they_name() {
    if !require_root() || !installed("/usr/sbin/nginx", "nginx") {
        return;
    }
    let scratch = Scratch::new("identity-nginx");
    let dir = scratch.path().display().to_string();
    let port = free_port();
    let conf = format!("{dir}/nginx.conf");
    fs::write(
        &conf,
        format!(
            "worker_processes 2;\ndaemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;\n\
             fastcgi_temp_path {dir}/fastcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;\n\
             server {{ listen 127.0.0.1:{port}; return 204; }} }}\n"
        ),
    )
    .expect("write nginx.conf");
    let mut nginx = Daemon::start(
        Command::new("/usr/sbin/nginx")
            .args(["-c", &conf, "-p", &dir])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin")
            .env("GMR_IDENTITY", "nginx"),
    );
    let master = nginx.pid();
    let worker = nginx.wait_for("a worker title", |pid, cmdline| {
        pid != master && cmdline.starts_with(b"nginx: worker process")
    });
    nginx.wait_for("the master title", |pid, cmdline| {
        pid == master && cmdline.starts_with(b"nginx: master process")
    });
    // The reference: what /proc shows, NUL padding and all.
    let worker_cmdline = fs::read(format!("/proc/{worker}/cmdline")).expect("worker cmdline");
    assert!(
        worker_cmdline.ends_with(b"\0\0"),
        "padded: {worker_cmdline:?}"
    );
    let set = ["PATH", "GMR_IDENTITY"];

    let report = report_json(worker);
    assert_title_shown_once(&report, worker, "nginx: worker process", &set);

    let report = report_json(master);
    let master_title = title_of(&fs::read(format!("/proc/{master}/cmdline")).expect("cmdline"));
    assert!(master_title.contains(&conf), "{master_title}");
    assert_title_shown_once(&report, master, &master_title, &set);
    let configuration = section(&report, "Configuration");
    let found = files(configuration);
    assert_eq!(
        found.first(),
        Some(&(conf.clone(), serde_json::json!({"kind": "command_line"}))),
        "the -c file, first, from the title: {configuration}"
    );
    // Workers are listed once each, by their title.
    let processes = section(&report, "Processes")["processes"]
        .as_array()
        .expect("processes");
    let workers = processes
        .iter()
        .filter(|p| p["command_line"] == "nginx: worker process")
        .count();
    assert_eq!(workers, 2, "{processes:?}");
}

#[test]
fn redis_server_is_its_own_package_and_its_title_hides_no_secret() {
    if !require_root() || !installed("/usr/bin/redis-server", "redis-server") {
        return;
    }
    let scratch = Scratch::new("identity-redis");
    let dir = scratch.path().display().to_string();
    let port = free_port();
    let conf = format!("{dir}/redis.conf");
    fs::write(
        &conf,
        format!(
            "bind 127.0.0.1\nport {port}\ndaemonize no\ndir {dir}\nsave \"\"\nappendonly no\n\
             requirepass gmr-planted-redis-secret\n"
        ),
    )
    .expect("write redis.conf");
    let mut redis = Daemon::start(
        Command::new("/usr/bin/redis-server")
            .arg(&conf)
            .current_dir(&dir)
            .env_clear()
            .env("PATH", "/usr/bin")
            .env("GMR_IDENTITY", "redis"),
    );
    let pid = redis.pid();
    // redis writes `argv[0] address` over its arguments, NUL-padded.
    redis.wait_for("its title", |p, cmdline| {
        p == pid && title_of(cmdline).ends_with(&format!(" 127.0.0.1:{port}"))
    });
    let title = title_of(&fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline"));
    assert!(title.contains(&format!("127.0.0.1:{port}")), "{title}");

    let report = report_json(pid);
    assert_title_shown_once(&report, pid, &title, &["PATH", "GMR_IDENTITY"]);
    let package = section(&report, "Package");
    assert_eq!(
        package["executable"], "/usr/bin/redis-check-rdb",
        "{package}"
    );
    assert_eq!(package["started_as"], "/usr/bin/redis-server", "{package}");
    assert_eq!(package["distro_package"], "redis-server", "{package}");
    assert_eq!(package["product"], "redis-server", "{package}");
    assert_eq!(package["executable_package"], "redis-tools", "{package}");

    // The title no longer names redis.conf: the package's conffiles that
    // exist stand in, each credited to redis-server (dpkg-query is the
    // reference).
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Conffiles}", "redis-server"])
        .output()
        .expect("dpkg-query");
    let conffiles: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|path| {
            fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 == 0)
        })
        .map(str::to_owned)
        .collect();
    assert!(
        !conffiles.is_empty(),
        "redis-server lists no plain conffile"
    );
    let configuration = section(&report, "Configuration");
    let found = files(configuration);
    let scripts = found
        .iter()
        .filter(|(path, _)| path.starts_with("/etc/init.d/"))
        .count();
    assert_eq!(
        scripts, 0,
        "init scripts are no configuration: {configuration}"
    );
    for conffile in &conffiles {
        assert!(
            found.contains(&(
                conffile.clone(),
                serde_json::json!({"kind": "package_conffile", "package": "redis-server"})
            )),
            "{conffile} missing: {configuration}"
        );
    }
    assert!(
        !report.to_string().contains("gmr-planted-redis-secret"),
        "the planted secret leaked"
    );
}

#[test]
fn postgres_config_file_option_and_child_titles() {
    let postgres = "/usr/lib/postgresql/15/bin/postgres";
    if !require_root() || !installed(postgres, "postgresql-15") {
        return;
    }
    let scratch = Scratch::new("identity-postgres");
    fs::set_permissions(scratch.path(), fs::Permissions::from_mode(0o777)).expect("chmod");
    let dir = scratch.path().display().to_string();
    let data = format!("{dir}/data");
    let initdb = Command::new("/usr/sbin/runuser")
        .args([
            "-u",
            "postgres",
            "--",
            "/usr/lib/postgresql/15/bin/initdb",
            "-D",
            &data,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run initdb");
    assert!(initdb.success(), "initdb -D {data} failed");
    // The configuration lives outside the data directory, as Debian keeps it.
    let conf = format!("{dir}/postgresql.conf");
    fs::write(
        &conf,
        format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{dir}'\n\
             hba_file = '{data}/pg_hba.conf'\nident_file = '{data}/pg_ident.conf'\n",
            free_port()
        ),
    )
    .expect("write postgresql.conf");
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).expect("chmod");
    let config_option = format!("config_file={conf}");
    let mut server = Daemon::start(
        Command::new("/usr/sbin/runuser")
            .args([
                "-u",
                "postgres",
                "--",
                postgres,
                "-D",
                &data,
                "-c",
                &config_option,
            ])
            .env_clear()
            .env("PATH", "/usr/bin")
            .env("GMR_IDENTITY", "postgres"),
    );
    let postmaster = server.wait_for("the postmaster", |_, cmdline| {
        cmdline.starts_with(postgres.as_bytes())
    });
    let checkpointer = server.wait_for("a checkpointer title", |_, cmdline| {
        cmdline.starts_with(b"postgres: checkpointer")
    });

    let report = report_json(postmaster);
    let configuration = section(&report, "Configuration");
    assert_eq!(configuration["command_line_rewritten"], false);
    assert_eq!(
        files(configuration).first(),
        Some(&(conf.clone(), serde_json::json!({"kind": "command_line"}))),
        "-c config_file=PATH: {configuration}"
    );

    let report = report_json(checkpointer);
    let title = title_of(&fs::read(format!("/proc/{checkpointer}/cmdline")).expect("cmdline"));
    assert_title_shown_once(&report, checkpointer, &title, &["PATH", "GMR_IDENTITY"]);
}

#[test]
fn setproctitle_title_and_the_config_file_it_holds_open() {
    if !require_root() {
        return;
    }
    let has_module = Command::new("/usr/bin/python3")
        .args(["-c", "import setproctitle"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_module
        && !installed(
            "/usr/lib/python3/dist-packages/setproctitle",
            "python3-setproctitle",
        )
    {
        return;
    }
    let scratch = Scratch::new("identity-setproctitle");
    let settings = scratch.path().join("settings.yaml");
    fs::write(
        &settings,
        "listen: 127.0.0.1\npassword: gmr-planted-yaml-secret\n",
    )
    .expect("write settings");
    let script = format!(
        "import setproctitle, time\n\
         held = open({:?})\n\
         setproctitle.setproctitle('myworker: serving --password=gmr-planted-title-secret')\n\
         time.sleep(120)\n",
        settings.display().to_string()
    );
    let mut worker = Daemon::start(
        Command::new("/usr/bin/python3")
            .args(["-c", &script])
            .env_clear()
            .env("PATH", "/usr/bin")
            .env("GMR_IDENTITY", "setproctitle"),
    );
    let pid = worker.pid();
    worker.wait_for("its title", |p, cmdline| {
        p == pid && cmdline.starts_with(b"myworker: ")
    });

    let report = report_json(pid);
    assert_title_shown_once(
        &report,
        pid,
        "myworker: serving --password=***",
        &["PATH", "GMR_IDENTITY"],
    );
    let configuration = section(&report, "Configuration");
    let path = settings.display().to_string();
    let held = files(configuration)
        .into_iter()
        .find(|(file, _)| *file == path)
        .unwrap_or_else(|| panic!("{path} not found: {configuration}"));
    assert_eq!(held.1["kind"], "open_file", "{configuration}");
    let text = report.to_string();
    for secret in ["gmr-planted-title-secret", "gmr-planted-yaml-secret"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
}

#[test]
fn title_over_the_arguments_only_keeps_the_environment() {
    if !require_root() {
        return;
    }
    // Writes a NUL-padded title over the argument area alone, through
    // /proc/self/mem, as a C daemon's `strcpy(argv[0], …)` would.
    let script = "import time\n\
        fields = open('/proc/self/stat').read().rsplit(')', 1)[1].split()\n\
        start, end = int(fields[45]), int(fields[46])\n\
        title = b'worker: idle'\n\
        with open('/proc/self/mem', 'r+b') as mem:\n\
        \x20   mem.seek(start)\n\
        \x20   mem.write(title + bytes(end - start - len(title)))\n\
        time.sleep(120)\n";
    let mut worker = Daemon::start(
        Command::new("/usr/bin/python3")
            .args(["-c", script])
            .env_clear()
            .env("PATH", "/usr/bin")
            .env("GMR_API_TOKEN", "gmr-planted-env-secret"),
    );
    let pid = worker.pid();
    worker.wait_for("its title", |p, cmdline| {
        p == pid && cmdline.starts_with(b"worker: idle\0\0")
    });
    let report = report_json(pid);
    assert_title_shown_once(&report, pid, "worker: idle", &["PATH", "GMR_API_TOKEN"]);
    let configuration = section(&report, "Configuration");
    let mut names: Vec<&str> = configuration["environment"]
        .as_array()
        .expect("environment")
        .iter()
        .map(|v| v["name"].as_str().expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["GMR_API_TOKEN", "PATH"], "{configuration}");
    assert!(
        !report.to_string().contains("gmr-planted-env-secret"),
        "the planted secret leaked"
    );
}
