//! oslo.config's INI dialect, read the way `oslo_config.iniparser` reads it.
//!
//! `[group]` headers; `key = value` or `key: value` (whichever separator
//! comes first); one pair of matching quotes around a value is removed; a
//! line starting with a space or tab continues the previous option's value
//! (joined with a newline), even when it looks like a comment; a blank line
//! ends a value; `#` and `;` start comment lines; a key may repeat, and
//! every value is kept (oslo's MultiStrOpt). Unlike oslo, options before the
//! first header are accepted, into `DEFAULT`: a report should show what a
//! file says, not refuse it.

use super::ParseError;
use super::groups::{DEFAULT_GROUP, Groups};
use crate::model::configuration::ConfigGroup;

/// Parses an oslo-style INI file.
pub(super) fn parse(text: &str) -> Result<Vec<ConfigGroup>, ParseError> {
    let mut groups = Groups::default();
    let mut group = DEFAULT_GROUP.to_owned();
    // The option being read: its name and its value's lines so far.
    let mut pending: Option<(String, Vec<String>)> = None;
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = line.trim_end();
        if line.is_empty() {
            flush(&mut groups, &group, pending.take());
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match &mut pending {
                Some((_, value)) => value.push(line.trim_start().to_owned()),
                None => {
                    return Err(ParseError::at(
                        line_number,
                        "indented line does not continue an option",
                    ));
                }
            }
            continue;
        }
        flush(&mut groups, &group, pending.take());
        if let Some(header) = line.strip_prefix('[') {
            let name = header
                .strip_suffix(']')
                .ok_or_else(|| ParseError::at(line_number, "group header does not end with `]`"))?;
            if name.is_empty() {
                return Err(ParseError::at(line_number, "group header has no name"));
            }
            group = name.to_owned();
            groups.group(&group);
        } else if !line.starts_with(['#', ';']) {
            let (key, value) = split_key_value(line).ok_or_else(|| {
                ParseError::at(line_number, "expected `name = value` or `name: value`")
            })?;
            if key.is_empty() {
                return Err(ParseError::at(line_number, "option has no name"));
            }
            pending = Some((key.to_owned(), vec![value.to_owned()]));
        }
    }
    flush(&mut groups, &group, pending.take());
    Ok(groups.finish())
}

/// Records a finished option.
fn flush(groups: &mut Groups, group: &str, option: Option<(String, Vec<String>)>) {
    if let Some((name, lines)) = option {
        groups.option(group, name, lines.join("\n"));
    }
}

/// Splits `key = value` at the first `=` or `:`, trimming both and removing
/// one pair of matching quotes around the value.
fn split_key_value(line: &str) -> Option<(&str, &str)> {
    let at = line.find(['=', ':'])?;
    let key = line[..at].trim();
    let value = line[at + 1..].trim();
    let unquoted = ['"', '\'']
        .into_iter()
        .find(|&q| value.starts_with(q) && value.ends_with(q))
        .map_or(value, |q| {
            // A lone quote is both ends: oslo's value[1:-1] makes it empty.
            value
                .strip_prefix(q)
                .and_then(|v| v.strip_suffix(q))
                .unwrap_or("")
        });
    Some((key, unquoted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(text: &str) -> Vec<(String, Vec<(String, String)>)> {
        parse(text)
            .expect("parses")
            .into_iter()
            .map(|g| {
                let options = g.options.into_iter().map(|o| (o.name, o.value)).collect();
                (g.name, options)
            })
            .collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn oslo_file() {
        let text = "\
# nova.conf
[database]
connection = mysql+pymysql://nova:x@db/nova

[DEFAULT]
debug = True
; comment
log_dir: /var/log/nova
quoted = \"a b\"
single = '
colon_value = http://ctl:5000/v3
empty =

[pci]
alias = { \"name\": \"a1\" }
alias = { \"name\": \"a2\" }
[DEFAULT]
my_ip = 10.0.0.1
[profiler]
hmac_keys = first
    second
\t# not a comment here
enabled = true
";
        assert_eq!(
            flat(text),
            vec![
                (
                    "DEFAULT".to_owned(),
                    pairs(&[
                        ("colon_value", "http://ctl:5000/v3"),
                        ("debug", "True"),
                        ("empty", ""),
                        ("log_dir", "/var/log/nova"),
                        ("my_ip", "10.0.0.1"),
                        ("quoted", "a b"),
                        ("single", ""),
                    ])
                ),
                (
                    "database".to_owned(),
                    pairs(&[("connection", "mysql+pymysql://nova:x@db/nova")])
                ),
                (
                    "pci".to_owned(),
                    pairs(&[
                        ("alias", "{ \"name\": \"a1\" }"),
                        ("alias", "{ \"name\": \"a2\" }"),
                    ])
                ),
                (
                    "profiler".to_owned(),
                    pairs(&[
                        ("enabled", "true"),
                        ("hmac_keys", "first\nsecond\n# not a comment here"),
                    ])
                ),
            ]
        );
    }

    #[test]
    fn options_before_any_group_are_default() {
        assert_eq!(
            flat("a = 1\r\n[x]\r\nb = 2\r\n"),
            vec![
                ("DEFAULT".to_owned(), pairs(&[("a", "1")])),
                ("x".to_owned(), pairs(&[("b", "2")])),
            ]
        );
        assert_eq!(flat(""), vec![]);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("[DEFAULT]\n  indented = 1\n", 2, "indented line"),
            ("[DEFAULT]\na = 1\n[database\n", 3, "does not end with `]`"),
            ("[]\n", 1, "no name"),
            ("[DEFAULT]\n\njust words\n", 3, "expected `name = value`"),
            ("[DEFAULT]\n= value\n", 2, "option has no name"),
        ];
        for (text, line, message) in cases {
            let error = parse(text).expect_err(text);
            assert_eq!(error.line, Some(line), "{text:?}");
            assert!(error.message.contains(message), "{text:?}: {error:?}");
        }
    }
}
