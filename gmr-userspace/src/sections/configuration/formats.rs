//! Which format a configuration file is in, from its name and the shape of
//! its text, so a report labels it by what it is and parses only what is
//! INI, YAML, TOML or JSON.
//!
//! A `.yaml`, `.yml`, `.toml` or `.json` name decides. Any other file is
//! judged by its lines that are not blank or comments, in this order: netrc
//! (first word `machine`, `default` or `macdef`), `.pgpass` (every line a
//! `host:port:db:user:password` record), apache (a `<Section …>` or
//! `</Section>` tag), nginx (at least half the lines end with `;`, `{` or
//! `}`), haproxy (every unindented line opens a section of
//! [`HAPROXY_SECTIONS`]); then, for a file whose name does not say INI,
//! JSON (`{`) or YAML (`---`, `- `, `key:`) from the first line; INI (a
//! `[group]` header, or every line `name = value`/`name: value` or a
//! continuation); `key-value` (at least half the lines `word value…`);
//! else `text`. A `key-value` or `text` file, or one with no settings at
//! all, whose path holds a word of [`NAME_HINTS`] takes that format's
//! label; a file with no settings and no hint is INI when its name says so,
//! else `text`.

use super::discover::has_config_extension;
use crate::mask::{is_colon_record, is_netrc};
use crate::model::configuration::ConfigFormat;

/// Words opening HAProxy's sections.
const HAPROXY_SECTIONS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "userlist",
    "peers",
    "resolvers",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "crt-store",
    "fcgi-app",
];

/// Words in a file's path that label a `key-value` or `text` file: only
/// the label, never how it is masked.
const NAME_HINTS: &[(&str, ConfigFormat)] = &[
    ("nginx", ConfigFormat::Nginx),
    ("apache", ConfigFormat::Apache),
    ("httpd", ConfigFormat::Apache),
    ("haproxy", ConfigFormat::Haproxy),
    ("netrc", ConfigFormat::Netrc),
    ("pgpass", ConfigFormat::Pgpass),
];

/// The format of the file at `path` holding `text`.
pub(super) fn detect(path: &str, text: &str) -> ConfigFormat {
    let named = format_from_name(path);
    if let Some(format @ (ConfigFormat::Yaml | ConfigFormat::Toml | ConfigFormat::Json)) = named {
        return format;
    }
    let shape = sniff(text, named.is_none());
    if let Some(format) = shape
        && !matches!(format, ConfigFormat::KeyValue | ConfigFormat::Text)
    {
        return format;
    }
    hint_from_path(path)
        .or(shape)
        .or(named)
        .unwrap_or(ConfigFormat::Text)
}

/// The format of a file that could not be read, from its path alone:
/// its name's extension or a [`NAME_HINTS`] word, else unknown.
pub(super) fn from_path(path: &str) -> ConfigFormat {
    match format_from_name(path) {
        Some(format @ (ConfigFormat::Yaml | ConfigFormat::Toml | ConfigFormat::Json)) => format,
        named => hint_from_path(path)
            .or(named)
            .unwrap_or(ConfigFormat::Unknown),
    }
}

/// The format a word of [`NAME_HINTS`] in `path` names.
fn hint_from_path(path: &str) -> Option<ConfigFormat> {
    let path = path.to_ascii_lowercase();
    NAME_HINTS
        .iter()
        .find(|(word, _)| path.contains(word))
        .map(|&(_, hinted)| hinted)
}

/// The format a file's name says it has.
fn format_from_name(path: &str) -> Option<ConfigFormat> {
    if !has_config_extension(path) {
        return None;
    }
    let extension = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "yaml" | "yml" => ConfigFormat::Yaml,
        "toml" => ConfigFormat::Toml,
        "json" => ConfigFormat::Json,
        _ => ConfigFormat::Ini,
    })
}

/// The format of `text` by its shape (see the module doc); `structured`
/// allows JSON and YAML, for a file whose name says nothing. `None` for a
/// text with no settings, only blanks and comments.
pub(super) fn sniff(text: &str, structured: bool) -> Option<ConfigFormat> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|line| {
            let trimmed = line.trim_start();
            !trimmed.is_empty() && !trimmed.starts_with(['#', ';'])
        })
        .collect();
    let first = lines.first()?.trim_start();
    let half = lines.len().div_ceil(2);
    let count = |shape: fn(&str) -> bool| lines.iter().filter(|line| shape(line)).count();
    let format = if is_netrc(text) {
        ConfigFormat::Netrc
    } else if lines.iter().all(|line| is_colon_record(line)) {
        ConfigFormat::Pgpass
    } else if lines.iter().any(|line| is_section_tag(line.trim())) {
        ConfigFormat::Apache
    } else if count(ends_statement) >= half && lines.iter().any(|line| line.ends_with(';')) {
        ConfigFormat::Nginx
    } else if is_haproxy(&lines) {
        ConfigFormat::Haproxy
    } else if structured && first.starts_with('{') {
        ConfigFormat::Json
    } else if structured
        && (first.starts_with("---") || first.starts_with("- ") || is_yaml_key(first))
    {
        ConfigFormat::Yaml
    } else if lines.iter().any(|line| is_ini_header(line))
        || lines
            .iter()
            .all(|line| is_ini_option(line) || line.starts_with([' ', '\t']))
    {
        ConfigFormat::Ini
    } else if count(is_directive) >= half {
        ConfigFormat::KeyValue
    } else {
        ConfigFormat::Text
    };
    Some(format)
}

/// `<Directory /var/www/>`, `<IfModule x>`, `</VirtualHost>`.
fn is_section_tag(line: &str) -> bool {
    let Some(inner) = line.strip_prefix('<').and_then(|l| l.strip_suffix('>')) else {
        return false;
    };
    let name = inner.strip_prefix('/').unwrap_or(inner);
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .split_whitespace()
            .next()
            .is_some_and(|word| word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// A line ending an nginx statement or block: `;`, `{` or `}`, before any
/// ` #` comment.
fn ends_statement(line: &str) -> bool {
    let code = line.split(" #").next().unwrap_or(line).trim_end();
    code.ends_with([';', '{', '}'])
}

/// Every unindented line opens a HAProxy section, and there is one.
fn is_haproxy(lines: &[&str]) -> bool {
    let mut opening = lines
        .iter()
        .filter(|line| !line.starts_with([' ', '\t']))
        .map(|line| line.split_whitespace().next().unwrap_or_default())
        .peekable();
    opening.peek().is_some() && opening.all(|word| HAPROXY_SECTIONS.contains(&word))
}

/// A YAML mapping key opening a line: `key:` then a blank or the end.
fn is_yaml_key(line: &str) -> bool {
    line.find(':').is_some_and(|colon| {
        !line[..colon].contains(['=', '['])
            && line[colon + 1..]
                .chars()
                .next()
                .is_none_or(char::is_whitespace)
    })
}

/// `[group]`.
fn is_ini_header(line: &str) -> bool {
    line.starts_with('[') && line.ends_with(']') && line.len() > 2
}

/// `name = value` or `name: value`, the name one word.
fn is_ini_option(line: &str) -> bool {
    line.find(['=', ':']).is_some_and(|at| {
        let name = line[..at].trim();
        !name.is_empty() && !name.contains(char::is_whitespace)
    })
}

/// `word value…`: a name, a blank, then something that is not a pair's
/// separator.
fn is_directive(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let (Some(name), Some(value)) = (words.next(), words.next()) else {
        return false;
    };
    name.chars().next().is_some_and(char::is_alphabetic)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !value.starts_with(['=', ':'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_shape() {
        let cases = [
            ("# c\n{\"a\": 1}", ConfigFormat::Json),
            ("---\na: 1", ConfigFormat::Yaml),
            ("database:\n  url: x", ConfigFormat::Yaml),
            ("url: http://x", ConfigFormat::Yaml),
            ("[DEFAULT]\na: 1", ConfigFormat::Ini),
            ("url = http://x:1", ConfigFormat::Ini),
            ("[DEFAULT]\na = 1\nnot an option\n", ConfigFormat::Ini),
            (
                "user www-data;\nevents {\n  worker_connections 768;\n}\n",
                ConfigFormat::Nginx,
            ),
            (
                "fastcgi_param A $a;\nfastcgi_param B $b;\n",
                ConfigFormat::Nginx,
            ),
            (
                "ServerRoot \"/etc/apache2\"\n<Directory />\n  Require all denied\n</Directory>\n",
                ConfigFormat::Apache,
            ),
            (
                "global\n\tlog /dev/log local0\ndefaults\n\tmode http\nlisten stats\n  stats auth a:b\n",
                ConfigFormat::Haproxy,
            ),
            (
                "bind 127.0.0.1\nport 6379\nrequirepass x\n",
                ConfigFormat::KeyValue,
            ),
            (
                "uid nslcd\ngid nslcd\nuri ldap://x/\n",
                ConfigFormat::KeyValue,
            ),
            ("export A=1\nexport B=2\n", ConfigFormat::KeyValue),
            ("machine h login u password p\n", ConfigFormat::Netrc),
            ("db:5432:app:u:p\n*:*:*:u:q\n", ConfigFormat::Pgpass),
            ("a = 1\njust a few words\n", ConfigFormat::KeyValue),
            ("!!!\n???\n", ConfigFormat::Text),
        ];
        for (text, format) in cases {
            assert_eq!(sniff(text, true), Some(format), "{text:?}");
        }
        assert_eq!(sniff("# only\n\n; comments\n", true), None);
        // A name saying INI rules JSON and YAML out, not the other shapes.
        assert_eq!(sniff("url: http://x", false), Some(ConfigFormat::Ini));
        assert_eq!(sniff("port 6379\n", false), Some(ConfigFormat::KeyValue));
    }

    #[test]
    fn formats_by_name() {
        assert_eq!(
            format_from_name("/etc/nova/nova.conf"),
            Some(ConfigFormat::Ini)
        );
        assert_eq!(format_from_name("a.CFG"), Some(ConfigFormat::Ini));
        assert_eq!(format_from_name("x.yml"), Some(ConfigFormat::Yaml));
        assert_eq!(format_from_name("x.toml"), Some(ConfigFormat::Toml));
        assert_eq!(format_from_name("x.json"), Some(ConfigFormat::Json));
        assert_eq!(format_from_name("/etc/hostname"), None);
        assert_eq!(detect("/etc/x.yaml", "port 6379\n"), ConfigFormat::Yaml);
        assert_eq!(
            detect("/etc/nginx/nginx.conf", "include x\n"),
            ConfigFormat::Nginx
        );
        assert_eq!(
            detect("/etc/redis/redis.conf", "port 6379\n"),
            ConfigFormat::KeyValue
        );
        assert_eq!(
            detect("/etc/nginx/nginx.conf", "[x]\na = 1\n"),
            ConfigFormat::Ini
        );
        assert_eq!(
            detect("/etc/apache2/mods-available/x.load", "LoadModule x /x.so\n"),
            ConfigFormat::Apache
        );
        assert_eq!(
            detect("/etc/nova/empty.conf", "# none\n"),
            ConfigFormat::Ini
        );
        assert_eq!(
            detect("/etc/apache2/empty.conf", "# none\n"),
            ConfigFormat::Apache
        );
        assert_eq!(detect("/etc/hostname", ""), ConfigFormat::Text);
        assert_eq!(from_path("/etc/nginx/nginx.conf"), ConfigFormat::Nginx);
        assert_eq!(from_path("/etc/nova/nova.conf"), ConfigFormat::Ini);
        assert_eq!(from_path("/etc/app/app.yaml"), ConfigFormat::Yaml);
        assert_eq!(from_path("/etc/hostname"), ConfigFormat::Unknown);
    }
}
