//! Text of the Configuration section, laid out like oslo.reports' config
//! section: each file as `<path> (<format>):`, how it was found, its groups
//! and `option = value` lines (or its masked lines, for a format gmr shows
//! line by line or a file it could not parse), then the command line (or the
//! title the process wrote over it) and the environment.
//!
//! oslo.config's options as the running process holds them, when read,
//! come first, each with the source of its value.
//!
//! Every value was masked when the section was made; this view only lays it
//! out, escaping control characters so a value cannot forge report lines.
//! A multi-line value continues on lines indented under its option, as in
//! an INI file.

use std::fmt::{self, Formatter};

use super::clean;
use crate::model::configuration::{ConfigFile, ConfigOption, Configuration, LiveOptions};

/// Writes the files, the command line and the environment (by name).
pub(super) fn write(f: &mut Formatter<'_>, configuration: &Configuration) -> fmt::Result {
    if let Some(live) = &configuration.live {
        write_live(f, live)?;
    }
    if let Some(error) = &configuration.live_error {
        writeln!(
            f,
            "oslo.config options of the running process: {}",
            clean(error)
        )?;
    }
    if configuration.files.is_empty() {
        writeln!(f, "(no configuration files found)")?;
    }
    for file in &configuration.files {
        write_file(f, file)?;
    }
    if configuration.files_omitted > 0 {
        writeln!(
            f,
            "({} more configuration files not read: too many for one report)",
            configuration.files_omitted
        )?;
    }
    if configuration.command_line_rewritten {
        writeln!(
            f,
            "command line (rewritten by the process: its title, not its arguments):"
        )?;
        for title in &configuration.command_line {
            writeln!(f, "  {}", clean(title))?;
        }
    } else if configuration.command_line.is_empty() {
        writeln!(f, "command line:\n  (none)")?;
    } else {
        writeln!(f, "command line:")?;
        writeln!(f, "  {}", clean(&shell_words(&configuration.command_line)))?;
    }
    writeln!(f, "environment:")?;
    if let Some(error) = &configuration.environment_error {
        writeln!(f, "  error: {}", clean(error))?;
    }
    let mut environment: Vec<&ConfigOption> = configuration.environment.iter().collect();
    environment.sort_by(|a, b| a.name.cmp(&b.name));
    for variable in environment {
        write_option(f, "  ", variable)?;
    }
    Ok(())
}

/// Writes oslo.config's options as the running process holds them, each
/// with where its value comes from, then the options no code registered.
fn write_live(f: &mut Formatter<'_>, live: &LiveOptions) -> fmt::Result {
    writeln!(
        f,
        "oslo.config options of the running process ({}):",
        clean(&live.object)
    )?;
    for note in &live.notes {
        writeln!(f, "  note: {}", clean(note))?;
    }
    for group in &live.groups {
        writeln!(f, "  {}:", clean(&group.name))?;
        for option in &group.options {
            let used = if option.used { "" } else { ", not used yet" };
            writeln!(
                f,
                "    {} = {}  ({}{used})",
                clean(&option.name),
                clean(&option.value),
                clean(&option.source)
            )?;
        }
    }
    if !live.unregistered.is_empty() {
        writeln!(f, "  set in files but registered by no code:")?;
        for option in &live.unregistered {
            writeln!(
                f,
                "    [{}] {} = {}  (file {})",
                clean(&option.group),
                clean(&option.name),
                clean(&option.value),
                clean(&option.file)
            )?;
        }
    }
    Ok(())
}

/// Writes one file: its groups, or its error and its masked lines.
fn write_file(f: &mut Formatter<'_>, file: &ConfigFile) -> fmt::Result {
    writeln!(f, "{} ({}):", clean(&file.path), file.format)?;
    writeln!(f, "  found by: {}", clean(&file.found_by.to_string()))?;
    if file.truncated {
        writeln!(f, "  note: file truncated, only its start was read")?;
    }
    if file.modified_after_start {
        writeln!(
            f,
            "  note: modified after the process started; the process may not have loaded what it now says"
        )?;
    }
    if let Some(error) = &file.error {
        writeln!(f, "  {}", clean(error))?;
    }
    // Tabs become spaces so indented blocks (nginx, haproxy) read as such
    // rather than as escaped `\t`.
    for line in file.raw.iter().flatten() {
        writeln!(f, "    {}", clean(&line.replace('\t', "    ")))?;
    }
    if file.raw_omitted > 0 {
        writeln!(f, "    ({} more lines not shown)", file.raw_omitted)?;
    }
    if file.error.is_none() && file.groups.is_empty() && file.raw.as_ref().is_none_or(Vec::is_empty)
    {
        writeln!(f, "  (no options)")?;
    }
    for group in &file.groups {
        writeln!(f, "  {}:", clean(&group.name))?;
        for option in &group.options {
            write_option(f, "    ", option)?;
        }
    }
    Ok(())
}

/// Writes `name = value`, continuation lines indented two more columns.
fn write_option(f: &mut Formatter<'_>, indent: &str, option: &ConfigOption) -> fmt::Result {
    let mut lines = option.value.split('\n');
    let first = lines.next().unwrap_or_default();
    if first.is_empty() {
        writeln!(f, "{indent}{} =", clean(&option.name))?;
    } else {
        writeln!(f, "{indent}{} = {}", clean(&option.name), clean(first))?;
    }
    for line in lines {
        writeln!(f, "{indent}  {}", clean(line))?;
    }
    Ok(())
}

/// The arguments joined into one line, each quoted like a shell word when
/// it holds anything but plain characters, so spaces stay unambiguous.
fn shell_words(args: &[String]) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-+=:,./@%*".contains(c);
    args.iter()
        .map(|arg| {
            if !arg.is_empty() && arg.chars().all(plain) {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use crate::model::SectionData;
    use crate::model::configuration::{ConfigFormat, ConfigGroup, FoundBy};
    use crate::view::sample::sample_report;
    use crate::view::text::render_text;

    use super::*;

    fn option(name: &str, value: &str) -> ConfigOption {
        ConfigOption {
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }

    fn sample() -> Configuration {
        Configuration {
            command_line: vec![
                "/usr/bin/python3".to_owned(),
                "/usr/bin/nova-api".to_owned(),
                "--config-file".to_owned(),
                "/etc/nova/nova.conf".to_owned(),
                "--os-password".to_owned(),
                "***".to_owned(),
                "it's two words".to_owned(),
            ],
            files: vec![
                ConfigFile {
                    path: "/etc/nova/nova.conf".to_owned(),
                    format: ConfigFormat::Ini,
                    groups: vec![
                        ConfigGroup {
                            name: "DEFAULT".to_owned(),
                            options: vec![
                                option("debug", "True"),
                                option("transport_url", "rabbit://openstack:***@ctl:5672/"),
                            ],
                        },
                        ConfigGroup {
                            name: "keystone_authtoken".to_owned(),
                            options: vec![
                                option("auth_url", "http://ctl:5000/v3"),
                                option("password", "***"),
                                option("region_name", ""),
                            ],
                        },
                        ConfigGroup {
                            name: "pci".to_owned(),
                            options: vec![
                                option("alias", "first\nsecond"),
                                option("alias", "third"),
                            ],
                        },
                    ],
                    error: None,
                    raw: None,
                    raw_omitted: 0,
                    truncated: false,
                    modified_after_start: false,
                    found_by: FoundBy::CommandLine,
                },
                ConfigFile {
                    path: "/etc/nova/broken.conf".to_owned(),
                    format: ConfigFormat::Ini,
                    groups: Vec::new(),
                    error: Some(
                        "parse error: expected `name = value` or `name: value` (line 3)".to_owned(),
                    ),
                    raw: Some(vec![
                        "[DEFAULT]".to_owned(),
                        "password = ***".to_owned(),
                        "not an option\u{1b}[2J".to_owned(),
                    ]),
                    raw_omitted: 0,
                    truncated: true,
                    modified_after_start: false,
                    found_by: FoundBy::OpenFile { fd: 7 },
                },
                ConfigFile {
                    path: "/etc/nova/missing.conf".to_owned(),
                    format: ConfigFormat::Ini,
                    groups: Vec::new(),
                    error: Some(
                        "cannot open /etc/nova/missing.conf: no such file or directory".to_owned(),
                    ),
                    raw: None,
                    raw_omitted: 0,
                    truncated: false,
                    modified_after_start: false,
                    found_by: FoundBy::CommandLine,
                },
                ConfigFile {
                    path: "/etc/redis/redis.conf".to_owned(),
                    format: ConfigFormat::KeyValue,
                    groups: Vec::new(),
                    error: None,
                    raw: Some(vec!["port 6379".to_owned(), "requirepass ***".to_owned()]),
                    raw_omitted: 3,
                    truncated: false,
                    modified_after_start: false,
                    found_by: FoundBy::CommandLine,
                },
                ConfigFile {
                    path: "/etc/nova/empty.yaml".to_owned(),
                    format: ConfigFormat::Yaml,
                    groups: Vec::new(),
                    error: None,
                    raw: None,
                    raw_omitted: 0,
                    truncated: false,
                    modified_after_start: false,
                    found_by: FoundBy::CommandLine,
                },
            ],
            files_omitted: 2,
            environment: vec![
                option("PATH", "/usr/bin:/bin"),
                option("OS_PASSWORD", "***"),
                option("HOME", "/var/lib/nova"),
            ],
            environment_error: None,
            live: None,
            live_error: None,
            command_line_rewritten: false,
        }
    }

    /// The section's text alone, from a whole rendered report.
    fn section_text(configuration: Configuration) -> String {
        let mut report = sample_report();
        report.sections = vec![crate::model::Section {
            title: "Configuration".to_owned(),
            body: Ok(SectionData::Configuration(configuration)),
        }];
        let text = render_text(&report);
        let banner = text.find(" Configuration ").expect("banner");
        let body = text[banner..].split_once('\n').expect("banner line").1;
        body.split_once('\n').expect("rule line").1.to_owned()
    }

    #[test]
    fn oslo_layout() {
        let expected = r"/etc/nova/nova.conf (ini):
  found by: command line
  DEFAULT:
    debug = True
    transport_url = rabbit://openstack:***@ctl:5672/
  keystone_authtoken:
    auth_url = http://ctl:5000/v3
    password = ***
    region_name =
  pci:
    alias = first
      second
    alias = third
/etc/nova/broken.conf (ini):
  found by: open file descriptor 7
  note: file truncated, only its start was read
  parse error: expected `name = value` or `name: value` (line 3)
    [DEFAULT]
    password = ***
    not an option\u{1b}[2J
/etc/nova/missing.conf (ini):
  found by: command line
  cannot open /etc/nova/missing.conf: no such file or directory
/etc/redis/redis.conf (key-value):
  found by: command line
    port 6379
    requirepass ***
    (3 more lines not shown)
/etc/nova/empty.yaml (yaml):
  found by: command line
  (no options)
(2 more configuration files not read: too many for one report)
command line:
  /usr/bin/python3 /usr/bin/nova-api --config-file /etc/nova/nova.conf --os-password *** 'it'\''s two words'
environment:
  HOME = /var/lib/nova
  OS_PASSWORD = ***
  PATH = /usr/bin:/bin
";
        assert_eq!(section_text(sample()), expected);
    }

    #[test]
    fn nothing_found() {
        let configuration = Configuration {
            command_line: Vec::new(),
            files: Vec::new(),
            files_omitted: 0,
            environment: Vec::new(),
            environment_error: Some("cannot read /proc/2/environ: permission denied".to_owned()),
            live: None,
            live_error: None,
            command_line_rewritten: false,
        };
        assert_eq!(
            section_text(configuration),
            "(no configuration files found)\ncommand line:\n  (none)\nenvironment:\n  error: cannot read /proc/2/environ: permission denied\n"
        );
    }

    #[test]
    fn title_shown_once_with_a_note() {
        let configuration = Configuration {
            command_line: vec!["nginx: worker process".to_owned()],
            command_line_rewritten: true,
            files: Vec::new(),
            files_omitted: 0,
            environment: Vec::new(),
            environment_error: Some(
                "process 9 wrote its title over its environment area; no variables are shown"
                    .to_owned(),
            ),
            live: None,
            live_error: None,
        };
        assert_eq!(
            section_text(configuration),
            "(no configuration files found)\n\
             command line (rewritten by the process: its title, not its arguments):\n  \
             nginx: worker process\nenvironment:\n  error: process 9 wrote its title over its \
             environment area; no variables are shown\n"
        );
    }

    #[test]
    fn live_options_come_first_with_their_sources() {
        use crate::model::configuration::{LiveGroup, LiveOption, LiveOptions, UnregisteredOption};
        let live_option = |name: &str, value: &str, source: &str, used: bool| LiveOption {
            name: name.to_owned(),
            value: value.to_owned(),
            source: source.to_owned(),
            used,
            secret: value == "***",
        };
        let mut configuration = Configuration {
            live: Some(LiveOptions {
                object: "oslo_config.cfg.ConfigOpts at 0x10 (CPython 3.11.2)".to_owned(),
                groups: vec![LiveGroup {
                    name: "DEFAULT".to_owned(),
                    options: vec![
                        live_option("debug", "True", "file /etc/heat/heat.conf:3", true),
                        live_option("password", "***", "default", false),
                    ],
                }],
                unregistered: vec![UnregisteredOption {
                    group: "DEFAULT".to_owned(),
                    name: "wrokers".to_owned(),
                    value: "3".to_owned(),
                    file: "/etc/heat/heat.conf".to_owned(),
                }],
                notes: vec![
                    "/etc/heat/heat.conf was modified after the process started".to_owned(),
                ],
            }),
            ..sample()
        };
        let text = section_text(configuration.clone());
        let expected = "oslo.config options of the running process (oslo_config.cfg.ConfigOpts at 0x10 (CPython 3.11.2)):\n  \
             note: /etc/heat/heat.conf was modified after the process started\n  \
             DEFAULT:\n    \
             debug = True  (file /etc/heat/heat.conf:3)\n    \
             password = ***  (default, not used yet)\n  \
             set in files but registered by no code:\n    \
             [DEFAULT] wrokers = 3  (file /etc/heat/heat.conf)\n";
        assert!(text.starts_with(expected), "{text}");
        configuration.live = None;
        configuration.live_error =
            Some("cannot read oslo.config's ConfigOpts at 0x10: dict kept changing; the files are shown as read now instead".to_owned());
        let text = section_text(configuration);
        assert!(
            text.starts_with("oslo.config options of the running process: cannot read oslo.config's ConfigOpts at 0x10: dict kept changing; the files are shown as read now instead\n/etc/nova/nova.conf"),
            "{text}"
        );
    }
}
