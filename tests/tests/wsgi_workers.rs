//! Forked and threaded WSGI workers, the way Debian runs OpenStack's APIs:
//! uWSGI with a master, several processes of several threads, with and
//! without `lazy-apps` (Debian's `heat-api-uwsgi.ini` settings, scaled
//! down), gunicorn's threaded workers and mod_wsgi's daemon processes. Every request slot is filled
//! with a request that waits in `hold_request`; each thread serving one
//! wrote its own ids (pid, native thread id, `threading.get_ident()`). The
//! report of each worker (`gmr-agent report --pid`) must show, for each of
//! those threads, the Python frames of the request and the ident the app
//! recorded, with every Python thread state matched to an OS thread.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use gmr_tests::{
    TestCgroup,
    agent::{report_json, section, thread},
    realworld::{launch, template},
    require_root,
    scratch::Scratch,
    workspace_root,
};

/// The app every server runs.
const APP: &str = "tests/fixtures/wsgi/held_requests.py";

/// One way of serving the app.
struct Server {
    /// Its name in messages.
    name: &'static str,
    /// Files that must exist to run it.
    needs: &'static [&'static str],
    /// Its command line for the app in `dir` on `port`, after writing
    /// any configuration it needs into `dir`.
    argv: fn(dir: &str, port: u16) -> Vec<String>,
    /// Requests sent at once.
    requests: usize,
}

/// Debian's `heat-api-uwsgi.ini` settings for its workers (master,
/// `thunder-lock`, `enable-threads`, `lazy-apps`), with 2 processes of 4
/// threads instead of 8 of 32.
fn uwsgi_argv(dir: &str, port: u16, lazy_apps: bool) -> Vec<String> {
    let mut argv: Vec<String> = [
        "/usr/bin/uwsgi-core",
        "--plugins-dir",
        "/usr/lib/uwsgi/plugins",
        "--plugin",
        "python3",
        "--master",
        "--thunder-lock",
        "--enable-threads",
        "--no-orphans",
        "--die-on-term",
        "--processes",
        "2",
        "--threads",
        "4",
        "--listen",
        "100",
    ]
    .map(str::to_owned)
    .to_vec();
    if lazy_apps {
        argv.push("--lazy-apps".to_owned());
    }
    argv.extend([
        "--http-socket".to_owned(),
        format!("127.0.0.1:{port}"),
        "--chdir".to_owned(),
        dir.to_owned(),
        "--wsgi-file".to_owned(),
        format!("{dir}/held_requests.py"),
    ]);
    argv
}

const UWSGI_NEEDS: &[&str] = &[
    "/usr/bin/uwsgi-core",
    "/usr/lib/uwsgi/plugins/python3_plugin.so",
];

/// apache2 with `tests/fixtures/wsgi/apache2.conf`: 2 mod_wsgi daemon
/// processes of 4 threads, run as nobody.
fn apache_argv(dir: &str, port: u16) -> Vec<String> {
    let text = std::fs::read_to_string(workspace_root().join("tests/fixtures/wsgi/apache2.conf"))
        .expect("read the apache2 config template");
    let conf = format!("{dir}/apache2.conf");
    let text = template(&text, &[("DIR", dir), ("PORT", &port.to_string())]);
    std::fs::write(&conf, text).expect("write apache2.conf");
    // The daemon processes run as nobody and record into `held/`.
    launch::open_to_all(Path::new(dir), 0o777).unwrap();
    ["/usr/sbin/apache2", "-d", dir, "-f", &conf, "-DFOREGROUND"]
        .map(str::to_owned)
        .to_vec()
}

const SERVERS: [Server; 4] = [
    Server {
        name: "uWSGI, lazy-apps",
        needs: UWSGI_NEEDS,
        argv: |dir, port| uwsgi_argv(dir, port, true),
        requests: 8,
    },
    Server {
        name: "uWSGI, app loaded before the fork",
        needs: UWSGI_NEEDS,
        argv: |dir, port| uwsgi_argv(dir, port, false),
        requests: 8,
    },
    // One gthread worker may take every connection, so no more requests
    // than one worker's threads.
    Server {
        name: "gunicorn, gthread workers",
        needs: &["/usr/bin/gunicorn"],
        argv: |dir, port| {
            [
                "/usr/bin/gunicorn",
                "--workers",
                "2",
                "--threads",
                "4",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--chdir",
                dir,
                "held_requests:application",
            ]
            .map(str::to_owned)
            .to_vec()
        },
        requests: 4,
    },
    Server {
        name: "apache2, mod_wsgi daemon processes",
        needs: &["/usr/sbin/apache2", "/usr/lib/apache2/modules/mod_wsgi.so"],
        argv: apache_argv,
        requests: 8,
    },
];

/// The ids one request's thread recorded, by native thread id.
fn held_threads(dir: &Path) -> BTreeMap<u32, Value> {
    let Ok(entries) = std::fs::read_dir(dir.join("held")) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "json").then_some(path)
        })
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read a held record");
            let record: Value = serde_json::from_str(&text).expect("a JSON record");
            (record["tid"].as_u64().expect("tid") as u32, record)
        })
        .collect()
}

/// Function names of a frame array.
fn functions(frames: &Value) -> Vec<&str> {
    frames
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|frame| frame["function"].as_str())
        .collect()
}

#[test]
fn every_thread_serving_a_request_shows_its_python_frames_and_ident() {
    if !require_root() {
        return;
    }
    for server in &SERVERS {
        if let Some(missing) = server.needs.iter().find(|path| !Path::new(path).exists()) {
            println!("SKIP: {}: {missing} is not installed", server.name);
            continue;
        }
        check_server(server);
    }
}

/// Starts `server`, fills its request slots and checks each worker's report.
fn check_server(server: &Server) {
    let scratch = Scratch::new("wsgi");
    let dir = scratch.path();
    std::fs::copy(workspace_root().join(APP), dir.join("held_requests.py")).expect("copy the app");
    let cgroup = TestCgroup::create();
    let port = launch::free_port().unwrap();
    let argv = (server.argv)(dir.to_str().unwrap(), port);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let env = [("PATH".to_owned(), "/usr/bin:/bin".to_owned())];
    let mut process = launch::spawn_in(&cgroup, dir, &env, &argv).unwrap();
    launch::wait_until(server.name, dir, || {
        launch::http_get(port, "/").is_ok_and(|r| r.contains("ready"))
    })
    .unwrap();
    let _held: Vec<TcpStream> = (0..server.requests)
        .map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(stream, "GET /hold HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
            stream
        })
        .collect();
    launch::wait_until(&format!("{}: every request held", server.name), dir, || {
        held_threads(dir).len() == server.requests
    })
    .unwrap();
    let held = held_threads(dir);
    let mut workers: BTreeMap<u32, Vec<&Value>> = BTreeMap::new();
    for record in held.values() {
        let pid = record["pid"].as_u64().unwrap() as u32;
        workers.entry(pid).or_default().push(record);
    }
    for (pid, records) in &workers {
        let report = report_json(*pid);
        let threads = section(&report, "Threads");
        assert_eq!(
            threads["python_note"],
            Value::Null,
            "{}: worker {pid}: every Python thread state is matched",
            server.name
        );
        for record in records {
            let tid = record["tid"].as_u64().unwrap() as u32;
            let entry = thread(&report, tid);
            assert_eq!(
                entry["python_ident"], record["ident"],
                "{}: worker {pid} thread {tid}: the ident the app recorded",
                server.name
            );
            let python = functions(&entry["python_frames"]);
            assert!(
                python.starts_with(&["hold_request", "application"]),
                "{}: worker {pid} thread {tid} serves a request: {python:?}",
                server.name
            );
            let merged = functions(&entry["user_stack"]);
            assert!(
                merged.contains(&"hold_request"),
                "{}: worker {pid} thread {tid}: Python frames in the stack: {merged:?}",
                server.name
            );
        }
        println!(
            "{}: worker {pid}: {} request thread(s) with their Python frames",
            server.name,
            records.len()
        );
    }
    std::fs::write(dir.join("release"), "").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    process.kill().unwrap();
    process.wait().unwrap();
}

/// Debian's own uWSGI settings for heat-api.
const HEAT_INI: &str = "/etc/heat/heat-api-uwsgi.ini";

/// heat-api as Debian's init script runs it under uWSGI (`--http-socket`,
/// then `--ini /etc/heat/heat-api-uwsgi.ini`, which drops to user heat),
/// scaled down to 2 processes of 4 threads, with every request slot held
/// inside keystonemiddleware (Keystone's address accepts and never
/// answers). Each worker's report must show every held request with
/// heat's Python frames: on its thread's stack, or, where the thread waits
/// for the server in eventlet's hub (heat monkey-patches sockets), as that
/// thread's suspended main greenlet in Green Threads, naming that thread
/// (tid and Python ident), whose running greenlet is its hub; with every
/// Python thread state matched and none of the secrets planted in its
/// configuration.
#[test]
fn heat_api_under_uwsgi_shows_every_thread_serving_a_request() {
    if !require_root() {
        return;
    }
    let needs = [UWSGI_NEEDS, &[HEAT_INI, "/usr/bin/heat-wsgi-api"]].concat();
    if let Some(missing) = needs.iter().find(|path| !Path::new(path).exists()) {
        println!("SKIP: heat-api under uWSGI: {missing} is not installed");
        return;
    }
    let scratch = Scratch::new("heat-uwsgi");
    let dir = scratch.path();
    let dir_text = dir.to_str().unwrap();
    // Never answered: connections wait in the listen queue.
    let keystone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let secrets = [
        "Rabbit-Secret-1893",
        "Authkey-Secret-77",
        "Keystone-Secret-5021",
    ];
    let text = std::fs::read_to_string(workspace_root().join("tests/fixtures/wsgi/heat.conf"))
        .expect("read the heat.conf template");
    let conf = template(
        &text,
        &[
            ("DIR", dir_text),
            (
                "KEYSTONE_PORT",
                &keystone.local_addr().unwrap().port().to_string(),
            ),
            ("RABBIT", secrets[0]),
            ("AUTHKEY", secrets[1]),
            ("KEYSTONE", secrets[2]),
        ],
    );
    std::fs::create_dir(dir.join(".heat")).unwrap();
    std::fs::write(dir.join(".heat/heat.conf"), conf).unwrap();
    // uWSGI runs the app as user heat, which must read its home.
    let chown = std::process::Command::new("chown")
        .args(["-R", "heat:heat", dir_text])
        .status()
        .unwrap();
    assert!(chown.success(), "chown -R heat {dir_text}");
    let cgroup = TestCgroup::create();
    let port = launch::free_port().unwrap();
    let socket = format!("127.0.0.1:{port}");
    let log = format!("{dir_text}/heat-api.log");
    let argv = [
        "/usr/bin/uwsgi-core",
        "--plugins-dir",
        "/usr/lib/uwsgi/plugins",
        "--http-socket",
        &socket,
        "--ini",
        HEAT_INI,
        "--processes",
        "2",
        "--threads",
        "4",
        "--logto",
        &log,
    ];
    let env = [
        ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
        ("HOME".to_owned(), dir_text.to_owned()),
    ];
    let mut master = launch::spawn_in(&cgroup, dir, &env, &argv).unwrap();
    launch::wait_until("heat-api under uWSGI lists its API versions", dir, || {
        launch::http_get(port, "/").is_ok_and(|r| r.contains("versions"))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()));
    let slots = 8;
    let _held: Vec<TcpStream> = (0..slots)
        .map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(
                stream,
                "GET /v1/tenant/stacks HTTP/1.0\r\nHost: 127.0.0.1\r\nX-Auth-Token: gmr\r\n\r\n"
            )
            .unwrap();
            stream
        })
        .collect();
    let workers: Vec<u32> = cgroup
        .processes()
        .into_iter()
        .filter(|&pid| pid != master.id())
        .collect();
    assert_eq!(workers.len(), 2, "two workers: {workers:?}");
    // Requests reach the workers' threads one by one: report until every
    // slot shows one, or give up.
    let started = std::time::Instant::now();
    let (serving, stacks, placed, misplaced) = loop {
        let mut serving = BTreeMap::new();
        let mut stacks = String::new();
        let (mut placed, mut misplaced) = (0, Vec::new());
        for &pid in &workers {
            let report = report_json(pid);
            let text = report.to_string();
            for secret in secrets {
                assert!(!text.contains(secret), "worker {pid}: {secret} leaked");
            }
            let threads = section(&report, "Threads");
            assert_eq!(
                threads["python_note"],
                Value::Null,
                "worker {pid}: every Python thread state is matched"
            );
            for thread in threads["threads"].as_array().unwrap() {
                stacks += &format!(
                    "worker {pid} thread {}: Python {:?}, native {:?}, {}\n",
                    thread["tid"],
                    functions(&thread["python_frames"]),
                    functions(&thread["user_stack"]),
                    thread["python_note"]
                );
            }
            // A thread whose request waits for eventlet's hub runs the hub
            // on its stack; the request is its suspended main greenlet,
            // which must name that thread, whose running greenlet is its
            // hub.
            let greenlets = section(&report, "Green Threads")["greenlets"].clone();
            let greenlets = greenlets.as_array().cloned().unwrap_or_default();
            let in_keystonemiddleware = |frames: &Value| {
                frames.as_array().into_iter().flatten().any(|frame| {
                    frame["file"]
                        .as_str()
                        .is_some_and(|file| file.contains("keystonemiddleware/auth_token"))
                })
            };
            let held = threads["threads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|thread| &thread["python_frames"])
                .chain(greenlets.iter().map(|g| &g["frames"]))
                .filter(|frames| in_keystonemiddleware(frames))
                .count();
            serving.insert(pid, held);
            for request in greenlets
                .iter()
                .filter(|g| in_keystonemiddleware(&g["frames"]))
            {
                let on_thread = threads["threads"].as_array().unwrap().iter().any(|t| {
                    t["tid"] == request["thread"] && t["python_ident"] == request["python_ident"]
                });
                let hub_runs_there = greenlets.iter().any(|hub| {
                    hub["hub"] == true
                        && hub["running"] == true
                        && hub["python_ident"] == request["python_ident"]
                });
                if on_thread && hub_runs_there {
                    placed += 1;
                } else {
                    misplaced.push(format!(
                        "worker {pid}: greenlet {} (main {}) names thread {} ident {} ({}); its hub running there: {hub_runs_there}",
                        request["address"],
                        request["main"],
                        request["thread"],
                        request["python_ident"],
                        request["note"]
                    ));
                }
            }
        }
        if serving.values().sum::<usize>() == slots || started.elapsed() > Duration::from_secs(60) {
            break (serving, stacks, placed, misplaced);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    println!(
        "heat-api under uWSGI: requests inside keystonemiddleware per worker: {serving:?}; {placed} held as a greenlet, each on its thread with that thread's hub running"
    );
    assert_eq!(
        serving.values().sum::<usize>(),
        slots,
        "every held request shows in a worker thread's Python frames: {serving:?}\n{stacks}"
    );
    assert!(
        misplaced.is_empty(),
        "every request held as a greenlet names its thread, whose hub runs: {misplaced:#?}"
    );
    drop(keystone);
    master.kill().unwrap();
    master.wait().unwrap();
}
