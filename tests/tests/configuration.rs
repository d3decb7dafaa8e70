//! The Configuration section of a C daemon started with `-c daemon.yaml`:
//! the file is found from the command line, parsed as YAML into groups, and
//! its secrets are masked in every format.

use gmr_tests::{
    CVariant, Fixture,
    agent::{report_json, run_agent, section},
    build_c_fixture, require_root,
};

const DAEMON_YAML: &str = "\
listen:
  host: 0.0.0.0
  port: 8443
database:
  url: postgresql://daemon:Yaml-Secret-1@db.internal/daemon
  pool_size: 8
tls:
  private_key_passphrase: Yaml-Secret-2
  cert_file: /etc/daemon/cert.pem
";

#[test]
fn yaml_configured_c_daemon_shows_parsed_masked_configuration() {
    if !require_root() {
        return;
    }
    let path = std::env::temp_dir().join(format!("gmr-daemon-{}.yaml", std::process::id()));
    std::fs::write(&path, DAEMON_YAML).unwrap();
    let fixture = Fixture::spawn(
        &build_c_fixture(CVariant::FramePointer),
        &["-c", path.to_str().unwrap()],
        None,
    );

    let report = report_json(fixture.pid());
    let files = &section(&report, "Configuration")["files"];
    let file = files
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path.to_str().unwrap())
        .unwrap_or_else(|| panic!("the -c file is shown: {files}"));
    assert_eq!(file["format"], "yaml", "{file}");
    let option = |group: &str, name: &str| -> String {
        file["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["name"] == group)
            .flat_map(|g| g["options"].as_array().unwrap())
            .find(|o| o["name"] == name)
            .map(|o| o["value"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{group}.{name} missing: {file}"))
    };
    assert_eq!(option("listen", "port"), "8443");
    assert_eq!(
        option("database", "url"),
        "postgresql://daemon:***@db.internal/daemon"
    );
    assert_eq!(option("tls", "private_key_passphrase"), "***");
    assert_eq!(option("tls", "cert_file"), "/etc/daemon/cert.pem");

    for format in ["text", "json", "yaml"] {
        let out = run_agent(&[
            "report",
            "--pid",
            &fixture.pid().to_string(),
            "--format",
            format,
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        assert!(
            !text.contains("Yaml-Secret-1") && !text.contains("Yaml-Secret-2"),
            "{format} leaks a secret"
        );
        assert!(text.contains("db.internal"), "{format} keeps the host");
    }
    std::fs::remove_file(&path).unwrap();
}
