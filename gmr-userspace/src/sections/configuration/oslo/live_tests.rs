//! The live options of a real oslo.config (Debian's `python3-oslo.config`
//! under `/usr/bin/python3`) against what oslo itself computes: a script
//! registers options in two groups, parses a file with planted secrets, a
//! misspelt option and an unregistered group, is given a command-line
//! option, an environment value, an override, and reads two options (so
//! they are cached). It prints `ConfigOpts._do_get` of every option (oslo's
//! own lookup, which leaves the cache alone). Every option must be shown,
//! every value not masked must equal oslo's, no planted secret may appear
//! anywhere, and the file edited after the start must be noted. Needs root.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value as Json;

use super::live_options;
use crate::sections::configuration::files::TargetFiles;
use crate::sections::context::ReportContext;
use crate::test_support::Reaped;

const SCRIPT: &str = r#"
import json, sys, time
from oslo_config import cfg
CONF = cfg.CONF
CONF.register_opts([
    cfg.StrOpt('host', default='localhost'),
    cfg.IntOpt('workers', default=4),
    cfg.BoolOpt('debug_mode', default=False),
    cfg.ListOpt('hosts', default=['a', 'b']),
    cfg.StrOpt('admin_password', secret=True, default='defaultsecret'),
    cfg.StrOpt('service_token', default='nothing'),
    cfg.StrOpt('note'),
    cfg.FloatOpt('ratio', default=0.5),
    cfg.MultiStrOpt('multi', default=[]),
    cfg.DictOpt('mapping', default={}),
])
CONF.register_group(cfg.OptGroup('database'))
CONF.register_opts([cfg.StrOpt('connection'), cfg.IntOpt('max_pool', default=5),
                    cfg.StrOpt('backend', default='sqlalchemy')], group='database')
CONF.register_cli_opt(cfg.StrOpt('cliopt', default='x'))
CONF(sys.argv[1:], project='gmrtest')
CONF.set_override('ratio', 0.75)
CONF.host, CONF.database.max_pool
values = {}
for group, opts in [('DEFAULT', CONF._opts)] + [(g, CONF._groups[g]._opts) for g in CONF._groups]:
    for dest, info in opts.items():
        value, _ = CONF._do_get(dest, None if group == 'DEFAULT' else CONF._groups[group])
        values.setdefault(group, {})[info['opt'].name] = str(value)
print(json.dumps(values), flush=True)
time.sleep(60)
"#;

const FILE: &str = "[DEFAULT]
host = myhost
workers = 8
debug_mode = yes
hosts = x, y ,z
admin_password = PlantedSecretOne
service_token = PlantedSecretTwo
multi = one
multi = two
mapping = k1:v1,k2:v2
wrokers = 3

[database]
connection = mysql+pymysql://nova:PlantedSecretThree@db/nova
max_pool = 9

[nosuchgroup]
foo = bar
";

#[test]
fn every_option_with_the_value_oslo_computes_and_no_secret() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: reading another process's memory needs root");
        return;
    }
    let python = Path::new("/usr/bin/python3");
    if !Path::new("/usr/lib/python3/dist-packages/oslo_config/cfg.py").exists() {
        eprintln!("SKIP: python3-oslo.config is not installed");
        return;
    }
    let scratch = gmr_tests::scratch::Scratch::new("oslo-live");
    let file = scratch.path().join("service.conf");
    std::fs::write(&file, FILE).expect("write the file");
    let mut child = Command::new(python)
        .args(["-c", SCRIPT, "--config-file"])
        .arg(&file)
        .args(["--cliopt", "fromcli"])
        .env("OS_DATABASE__BACKEND", "fromenv")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the script");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let child = Reaped(child);
    let oslo: Json = serde_json::from_str(&lines.next().expect("a line").expect("stdout"))
        .expect("the script's JSON");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&file, FILE.replace("max_pool = 9", "max_pool = 10")).expect("edit the file");
    let pid = child.0.id();
    let context = ReportContext::read(pid);
    let environment = [("OS_DATABASE__BACKEND".to_owned(), "fromenv".to_owned())];
    let live = live_options(&context, &environment, &TargetFiles::open(pid))
        .expect("a ConfigOpts found")
        .expect("read");
    let (mut shown, mut equal, mut masked) = (0, 0, 0);
    for (group, options) in oslo.as_object().expect("groups") {
        let live_group = live
            .groups
            .iter()
            .find(|g| g.name == *group)
            .unwrap_or_else(|| panic!("group {group} not shown: {live:#?}"));
        for (name, value) in options.as_object().expect("options") {
            let option = live_group
                .options
                .iter()
                .find(|o| o.name == *name)
                .unwrap_or_else(|| panic!("[{group}] {name} not shown"));
            shown += 1;
            if option.value.contains("***") {
                masked += 1;
                continue;
            }
            assert_eq!(
                option.value,
                value.as_str().expect("str"),
                "[{group}] {name} ({})",
                option.source
            );
            equal += 1;
        }
    }
    let source = |group: &str, name: &str| {
        let group = live.groups.iter().find(|g| g.name == group).expect("group");
        let option = group
            .options
            .iter()
            .find(|o| o.name == name)
            .expect("option");
        (option.source.clone(), option.used)
    };
    let path = file.display();
    assert_eq!(source("DEFAULT", "host"), (format!("file {path}:2"), true));
    assert_eq!(source("DEFAULT", "ratio"), ("override".to_owned(), false));
    assert_eq!(
        source("DEFAULT", "cliopt"),
        ("command line".to_owned(), false)
    );
    assert_eq!(
        source("database", "backend"),
        ("environment OS_DATABASE__BACKEND".to_owned(), false)
    );
    assert!(
        source("database", "max_pool").1,
        "max_pool was read: cached"
    );
    let typos: Vec<(&str, &str)> = live
        .unregistered
        .iter()
        .map(|o| (o.group.as_str(), o.name.as_str()))
        .collect();
    assert_eq!(typos, [("DEFAULT", "wrokers"), ("nosuchgroup", "foo")]);
    assert!(
        live.notes
            .iter()
            .any(|n| n.contains("modified after the process started")),
        "{:?}",
        live.notes
    );
    let json = serde_json::to_string(&live).expect("JSON");
    for secret in [
        "PlantedSecretOne",
        "PlantedSecretTwo",
        "PlantedSecretThree",
        "defaultsecret",
    ] {
        assert!(!json.contains(secret), "{secret} leaked: {json}");
    }
    assert_eq!(
        masked, 3,
        "admin_password (oslo's secret), service_token and connection (gmr's rules)"
    );
    eprintln!(
        "oslo.config live: {shown} options shown, {equal} values equal, {masked} masked, 0 of 4 secrets leaked"
    );
}
