//! Masking secrets: the one place gmr decides what in a report is a secret.
//!
//! Every value a report shows that came from the target (configuration
//! options, its environment and command line, included files, command
//! output) goes through here, so one rule set applies everywhere: a value
//! through [`mask_value`], free text through [`mask_text`], a file's text
//! shown line by line (whatever its format) through [`mask_file`], a
//! command's output through [`mask_output`]. The rules
//! err on the side of hiding: masking a harmless value costs a little
//! diagnosis, showing a password costs a credential rotation. A few kinds of
//! value are deliberately kept visible because operators need them and they
//! grant nothing: URLs and endpoints (`auth_url`), the kind of a secret
//! (`auth_type`, `auth_strategy`), paths to files that hold secrets
//! (`key_file`, `cert_file`, `password_file`), names and UUIDs of secrets
//! (`rbd_secret_uuid`), sizes and lifetimes (`token_expiration`,
//! `max_active_keys`), the user name and host of a URL, and an empty value
//! (an unset password is worth seeing and reveals nothing).
//!
//! - **Keys** ([`is_secret_key`]): a key names a secret when its last word is
//!   a secret noun (`password`, `passwd`, `pwd`, `pw`, `pass`, `passphrase`,
//!   `secret`, `token`, `key`, `keys`, `credential(s)`, `creds`, `auth`,
//!   `authorization`, `bearer`, `cookie`, `private`, `privkey`, or a word
//!   ending in `password`, `passwd`, `secret`, `token`, `key`, `pass`, `pw`
//!   or `auth`, such as `PGPASSWORD`, `apikey`, `requirepass`, `bindpw`,
//!   `masterauth`; not `bypass` or `askpass`), or when any word is a strong secret word
//!   (password, secret, credential, token, key families) and the last word is
//!   not one that describes the secret instead of holding it (`url`, `type`,
//!   `file`, `path`, `name`, `uuid`, `size`, `ttl`, …). Words are split on
//!   `_`, `-`, spaces and camelCase; a dotted key (`database.password`,
//!   `users.0.password`) is judged by its last non-numeric segment, and
//!   anything below a `secrets`, `credentials`, `creds`, `passwords` or
//!   `tokens` segment is secret. A key starting with `max`, `min`, `num` or
//!   `number` is a quantity. `PWD` and `OLDPWD` are the shell's directories,
//!   not passwords.
//! - **Values** ([`mask_value`]): a secret key's value becomes [`MASK`]
//!   (keeping an `Authorization` scheme such as `Bearer`); any other value is
//!   masked as command output is (below), so credentials inside it still go.
//! - **Free text** ([`mask_text`]): URL credentials (`scheme://user:***@host`,
//!   every host of `rabbit://a:***@h1,b:***@h2/`, found the way Python's
//!   `urlsplit` finds them), `key=value`, `key: value`, `"key": "value"`,
//!   `key := value` and `--flag value` pairs whose key is secret (to the end
//!   of the line when the key starts the line, else to the next delimiter;
//!   a `{…}` or `[…]` value whole), lines indented under such a key (INI continuation lines, YAML block
//!   scalars), `Bearer` credentials, PEM private key bodies, and tokens with
//!   a recognisable shape: Fernet (`gAAAAA…`), GitHub (`ghp_…`,
//!   `github_pat_…`), GitLab (`glpat-…`), Slack (`xoxb-…`), AWS access key
//!   ids (`AKIA…`), Google API keys (`AIza…`), Stripe, OpenAI, npm, PyPI and
//!   Hugging Face tokens, and JWTs (`eyJ….eyJ….…`). A token keeps its prefix
//!   (`ghp_***`) so a reader still knows what was there. A random string
//!   with no secret key next to it and no known shape cannot be told from
//!   any other word, and stays.
//! - **Files shown line by line** ([`mask_file`]): the free-text rules,
//!   then space-separated directives: a line whose first word is a secret
//!   key (`requirepass X`, `bindpw X`, `ssl_certificate_key /p;`, also when
//!   commented out with at most two words after it: `# requirepass X`)
//!   hides every word after it, keeping a final `;` and hiding the lines a
//!   final `\` continues on; a secret key alone on its line hides the next
//!   line (a value printed below its name); inside a line that is not a
//!   `key = value`/`key: value` pair (whose value the pair rules judge, so
//!   `pipeline = authtoken api` stays), the word after a secret key is
//!   hidden (`SetEnv DB_PASSWORD ***`, `stats auth admin:***`,
//!   `user admin insecure-password ***`, `machine h login u password ***`;
//!   in a comment only a `user:password` word, so prose keeps its words),
//!   as is an ACL-style `>password` word with a letter
//!   (`user alice on >***`); a hidden `user:password` keeps its user. Two
//!   kinds of value stay under a secret-looking name: a switch (`on`,
//!   `off`, `yes`, `no`, `true`, `false`: `server_tokens off;`) and the
//!   addresses of a `…pass` directive (`proxy_pass http://app;`,
//!   `fastcgi_pass unix:/run/x.sock;`, `ProxyPass /app/ http://app/`: URLs,
//!   sockets, `host:port`, paths). systemd's `Environment=NAME=value`,
//!   `Environment="A=x" "B=y"` and `export NAME=value` are pairs. A netrc
//!   file (first word `machine`, `default` or `macdef`) has the token after
//!   every `password` and `account` hidden, across lines; a `.pgpass` line
//!   (`host:port:db:user:password`, the port a number or `*`, also
//!   commented out) its last field. So `auth_basic "Restricted";`,
//!   `AuthType Basic`, `AuthUserFile /path` and `port 6379` stay, while a
//!   key named like a private key (`ssl_certificate_key /etc/…/x.key`) is
//!   hidden although its value is a path: the key rules above decide, and
//!   only a descriptive last word (`key_file`, `SSLCertificateKeyFile`)
//!   keeps a path visible.
//! - **Command output** ([`mask_output`]): the free-text rules, `.pgpass`
//!   lines, and a line opening with a key that names a secret beyond doubt
//!   (a word built on `password`, `passwd`, `passphrase`, `secret`, `token`,
//!   `credential`, or ending in `pass`, `pw` or `auth`) hides the rest of
//!   the line, or the next line when it stands alone; prose keeps its words.
//! - **Parser messages** ([`mask_quoted`]): every `"…"` string of an error
//!   about the agent's own configuration, which goes to the log.
//! - **Command lines** ([`mask_command_line`]): `--secret-flag=value`,
//!   `--secret-flag value` (not `--no-…` switches), single-dash long flags
//!   such as `-storepass X`, short flags only for programs known to take a
//!   secret there (`mysql -pX`, `redis-cli -a X`, `sshpass -p X`,
//!   `curl -u user:X`, …), and free-text masking of every other argument.

mod colon_records;
mod command_line;
mod directives;
mod keys;
mod netrc;
mod pairs;
mod private_keys;
mod quoted;
mod tokens;
mod url;

pub use colon_records::is_colon_record;
use colon_records::mask_colon_record;
pub use command_line::mask_command_line;
use command_line::mask_flag_values;
use directives::{Next, Reach, mask_directives};
pub use keys::{is_secret_key, mask_value};
pub use netrc::is_netrc;
use netrc::mask_netrc;
use pairs::mask_pairs;
use private_keys::mask_private_keys;
pub use quoted::mask_quoted;
use tokens::mask_tokens;
pub use url::mask_url_credentials;

/// What a masked secret is replaced with.
pub const MASK: &str = "***";

/// Masks secrets in free text: a value, a message, a command line's word.
///
/// Give it whole texts rather than line by line when possible: a PEM private
/// key and a secret's continuation lines are only recognised across lines.
pub fn mask_text(text: &str) -> String {
    mask_lines(&mask_private_keys(text), None)
}

/// Masks a file's text shown line by line, whatever its format: the rules
/// of [`mask_text`], then netrc tokens, `.pgpass` records and
/// space-separated directives (see the module documentation).
pub fn mask_file(text: &str) -> String {
    let text = mask_netrc(&mask_private_keys(text));
    mask_lines(&text, Some(Reach::File))
}

/// Masks a command's output: the rules of [`mask_text`], `.pgpass` records,
/// and lines that open with a word naming a secret beyond doubt
/// (`password X`, `requirepass X`), or hold only such a word (the value is
/// then on the next line).
pub fn mask_output(text: &str) -> String {
    mask_lines(&mask_private_keys(text), Some(Reach::Output))
}

/// Masks `text` line by line, with the directive rules of `reach` if any,
/// carrying over lines a secret's value continues on.
fn mask_lines(text: &str, reach: Option<Reach>) -> String {
    let mut out = String::with_capacity(text.len());
    // Indentation of a line whose secret value may continue on the lines
    // indented deeper below it.
    let mut secret_block: Option<usize> = None;
    // Whether the next non-blank line is a secret directive's value.
    let mut hidden = Next::Free;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let indent = body.len() - body.trim_start().len();
        if body.trim().is_empty() {
            out.push_str(line);
            continue;
        }
        if hidden == Next::Hidden {
            out.push_str(&body[..indent]);
            out.push_str(MASK);
            out.push_str(ending);
            if !body.trim_end().ends_with('\\') {
                hidden = Next::Free;
            }
            continue;
        }
        if let Some(level) = secret_block {
            if indent > level {
                out.push_str(&body[..indent]);
                out.push_str(MASK);
                out.push_str(ending);
                continue;
            }
            secret_block = None;
        }
        let (masked, opens_block) = mask_line(body);
        if opens_block {
            secret_block = Some(indent);
        }
        let masked = match reach {
            Some(reach) => {
                let (masked, next) = mask_directives(&mask_colon_record(&masked), reach);
                hidden = next;
                masked
            }
            None => masked,
        };
        out.push_str(&masked);
        out.push_str(ending);
    }
    out
}

/// Masks one line; also says whether it starts with a secret key, so that
/// lines indented under it are part of its value.
fn mask_line(line: &str) -> (String, bool) {
    let line = mask_url_credentials(line);
    let (line, opens_block) = mask_pairs(&line);
    let line = mask_flag_values(&line);
    (mask_tokens(&line), opens_block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_of_a_secret() {
        let ini = "[profiler]\nhmac_keys = first\n    second\n\tthird\nenabled = true\n";
        assert_eq!(
            mask_text(ini),
            "[profiler]\nhmac_keys = ***\n    ***\n\t***\nenabled = true\n"
        );
        let yaml = "db:\n  password: |\n    line one\n\n    line two\n  host: db\n";
        assert_eq!(
            mask_text(yaml),
            "db:\n  password: ***\n    ***\n\n    ***\n  host: db\n"
        );
    }

    #[test]
    fn other_scripts_and_odd_bytes() {
        let cases = [
            (
                "clé: x mot_de_passe=é€ password=€uro",
                "clé: x mot_de_passe=é€ password=***",
            ),
            (
                "ü ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 ü",
                "ü ghp_*** ü",
            ),
            (
                "«Bearer tøken» and https://ü:pässword@hôst/",
                "«Bearer *** and https://ü:***@hôst/",
            ),
            ("password=\"unterminated", "password=\"***"),
            ("=", "="),
            (":", ":"),
            ("password", "password"),
        ];
        for (text, expected) in cases {
            assert_eq!(mask_text(text), expected, "masking {text:?}");
        }
    }
}
