//! Masking secrets: the one place gmr decides what in a report is a secret.
//!
//! Every value a report shows that came from the target (configuration
//! options, its environment and command line, included files, command
//! output) goes through here, so one rule set applies everywhere. The rules
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
//!   a secret noun (`password`, `passwd`, `pwd`, `pass`, `passphrase`,
//!   `secret`, `token`, `key`, `keys`, `credential(s)`, `creds`, `auth`,
//!   `authorization`, `bearer`, `cookie`, `private`, `privkey`, or a word
//!   ending in `password`, `passwd`, `secret`, `token` or `key`, such as
//!   `PGPASSWORD` or `apikey`), or when any word is a strong secret word
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
//!   masked as free text, so credentials inside it still go.
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
//! - **Command lines** ([`mask_command_line`]): `--secret-flag=value`,
//!   `--secret-flag value` (not `--no-…` switches), single-dash long flags
//!   such as `-storepass X`, short flags only for programs known to take a
//!   secret there (`mysql -pX`, `redis-cli -a X`, `sshpass -p X`,
//!   `curl -u user:X`, …), and free-text masking of every other argument.

mod command_line;
mod keys;
mod pairs;
mod private_keys;
mod tokens;
mod url;

pub use command_line::mask_command_line;
use command_line::mask_flag_values;
pub use keys::{is_secret_key, mask_value};
use pairs::mask_pairs;
use private_keys::mask_private_keys;
use tokens::mask_tokens;
pub use url::mask_url_credentials;

/// What a masked secret is replaced with.
pub const MASK: &str = "***";

/// Masks secrets in free text: lines of command output, a file shown raw.
///
/// Give it whole texts rather than line by line when possible: a PEM private
/// key and a secret's continuation lines are only recognised across lines.
pub fn mask_text(text: &str) -> String {
    let text = mask_private_keys(text);
    let mut out = String::with_capacity(text.len());
    // Indentation of a line whose secret value may continue on the lines
    // indented deeper below it.
    let mut secret_block: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let indent = body.len() - body.trim_start().len();
        if let Some(level) = secret_block {
            if body.trim().is_empty() {
                out.push_str(line);
                continue;
            }
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
