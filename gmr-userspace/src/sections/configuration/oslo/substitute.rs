//! oslo.config's `$name` substitution (`ConfigOpts._substitute`, a
//! `string.Template` whose names may hold dots) for the values oslo has
//! not looked up yet: `$name` and `${name}` take another option's value,
//! `group.name` one of another group's, `$$` (and `\$`) a dollar sign; an
//! unknown name stays as written, as `safe_substitute` leaves it.

use std::collections::HashMap;

use crate::mask::MASK;
use crate::python::heap::Value;

/// `text` with each name replaced by `lookup(name)`, when it knows it.
pub(super) fn substitute(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let text = text.replace(r"\$", "$$");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let here = &rest[at..];
        let after = &here[1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let (name, tail, written) = match after.strip_prefix('{') {
            Some(braced) => match braced.find('}') {
                Some(end) if is_name(&braced[..end]) => {
                    (&braced[..end], &braced[end + 1..], &here[..end + 3])
                }
                _ => ("", after, "$"),
            },
            None => {
                let end = name_end(after);
                (&after[..end], &after[end..], &here[..end + 1])
            }
        };
        match (name.is_empty(), lookup(name)) {
            (false, Some(value)) => out.push_str(&value),
            _ => out.push_str(written),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// `value` with `$name` references in its text substituted, as
/// `StrSubWrapper` looks names up: `group.name`, else the option's own
/// group, else `DEFAULT`.
pub(super) fn substitute_value(
    value: &Value,
    group: &str,
    by_dest: &HashMap<(String, String), (&Value, bool)>,
    depth: usize,
) -> Value {
    let text = |text: &str| {
        if depth == 0 || !text.contains('$') {
            return text.to_owned();
        }
        let lookup = |key: &str| {
            let own = match key.split_once('.') {
                Some((other, name)) => by_dest.get(&(other.to_lowercase(), name.to_owned())),
                None => by_dest.get(&(group.to_lowercase(), key.to_owned())),
            };
            let (value, secret) =
                own.or_else(|| by_dest.get(&("default".to_owned(), key.to_owned())))?;
            Some(match (secret, value) {
                (true, _) => MASK.to_owned(),
                (false, Value::None) => String::new(),
                (false, value) => substitute_value(value, group, by_dest, depth - 1).to_string(),
            })
        };
        substitute(text, &lookup)
    };
    match value {
        Value::Str(value) => Value::Str(text(value)),
        Value::List(items) => Value::List(
            items
                .iter()
                .map(|item| substitute_value(item, group, by_dest, depth))
                .collect(),
        ),
        Value::Dict(entries) => Value::Dict(
            entries
                .iter()
                .map(|(key, value)| {
                    (
                        substitute_value(key, group, by_dest, depth),
                        substitute_value(value, group, by_dest, depth),
                    )
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `string.Template`'s `idpattern` as oslo sets it, `[_a-z][._a-z0-9]*`,
/// matched without regard to case.
fn is_name(text: &str) -> bool {
    !text.is_empty() && name_end(text) == text.len()
}

/// Where the name at the start of `text` ends (0 for none).
fn name_end(text: &str) -> usize {
    let mut chars = text.char_indices();
    match chars.next() {
        Some((_, c)) if c == '_' || c.is_ascii_alphabetic() => {}
        _ => return 0,
    }
    chars
        .find(|&(_, c)| !(c == '_' || c == '.' || c.is_ascii_alphanumeric()))
        .map_or(text.len(), |(at, _)| at)
}

#[cfg(test)]
mod tests {
    use super::substitute;

    #[test]
    fn substitutes_as_string_template_does() {
        let lookup = |name: &str| match name {
            "state_path" => Some("/var/lib/nova".to_owned()),
            "database.backend" => Some("sqlalchemy".to_owned()),
            _ => None,
        };
        assert_eq!(
            substitute("$state_path/instances", &lookup),
            "/var/lib/nova/instances"
        );
        assert_eq!(substitute("${state_path}x", &lookup), "/var/lib/novax");
        assert_eq!(substitute("${database.backend}-1", &lookup), "sqlalchemy-1");
        assert_eq!(substitute("$$5 and \\$6", &lookup), "$5 and $6");
        assert_eq!(
            substitute("$unknown ${nope} $ $1", &lookup),
            "$unknown ${nope} $ $1"
        );
    }
}
