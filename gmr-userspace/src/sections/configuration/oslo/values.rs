//! What oslo.config makes of a value it did not cache: the option type's
//! conversion of text from a file, the command line or the environment
//! (`oslo_config.types`), and the line of a file that sets an option.

use crate::mask::{MASK, is_secret_key};
use crate::python::heap::Value;

/// `value` with the entries of every dict in it whose key names a secret
/// (`password`, `token`, …) masked, as gmr masks such keys in files: a
/// `DictOpt` not marked secret may still hold one.
pub(super) fn mask_secret_entries(value: Value) -> Value {
    match value {
        Value::Dict(entries) => Value::Dict(
            entries
                .into_iter()
                .map(|(key, value)| match key.as_str() {
                    Some(name) if is_secret_key(name) => (key, Value::Str(MASK.to_owned())),
                    _ => (key, mask_secret_entries(value)),
                })
                .collect(),
        ),
        Value::List(items) => Value::List(items.into_iter().map(mask_secret_entries).collect()),
        Value::Tuple(items) => Value::Tuple(items.into_iter().map(mask_secret_entries).collect()),
        other => other,
    }
}

/// `opt.type(text)` for the types of `oslo_config.types`, by class name;
/// text of any other type stays text.
pub(super) fn convert(type_name: &str, text: &str) -> Value {
    match type_name {
        "Boolean" => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => Value::Bool(true),
            "false" | "0" | "off" | "no" => Value::Bool(false),
            _ => Value::Str(text.to_owned()),
        },
        "Integer" | "Port" => text
            .trim()
            .parse()
            .map_or_else(|_| Value::Str(text.to_owned()), Value::Int),
        "Float" => text
            .trim()
            .parse()
            .map_or_else(|_| Value::Str(text.to_owned()), Value::Float),
        "List" => Value::List(list_items(text).map(Value::Str).collect()),
        "Dict" => Value::Dict(
            list_items(text)
                .map(|item| {
                    let (key, value) = item.split_once(':').unwrap_or((&item, ""));
                    (
                        Value::Str(key.trim().to_owned()),
                        Value::Str(value.trim().to_owned()),
                    )
                })
                .collect(),
        ),
        _ => Value::Str(text.to_owned()),
    }
}

/// A default as `opt.type(default)` makes it: text converted, an int given
/// to a `Float` option a float, a tuple given to a `List` option a list.
pub(super) fn coerce(type_name: &str, value: Value) -> Value {
    match (type_name, value) {
        (_, Value::Str(text)) => convert(type_name, &text),
        ("Float", Value::Int(number)) => Value::Float(number as f64),
        ("List", Value::Tuple(items)) => Value::List(items),
        (_, other) => other,
    }
}

/// The comma-separated items of a `List` or `Dict` value, trimmed; none for
/// blank text.
fn list_items(text: &str) -> impl Iterator<Item = String> + '_ {
    let text = text.trim();
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    text.split(',')
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
}

/// The 1-based line of the last `name = …` of section `section` in an INI
/// `text`, as oslo's parser keeps the last one.
pub(super) fn line_of(text: &str, section: &str, name: &str) -> Option<usize> {
    let mut current = String::new();
    let mut found = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = header.trim().to_owned();
        } else if current == section
            && let Some((key, _)) = line.split_once(['=', ':'])
            && key.trim() == name
        {
            found = Some(index + 1);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_as_oslo_types_do() {
        assert_eq!(convert("Boolean", "On"), Value::Bool(true));
        assert_eq!(convert("Integer", " 8 "), Value::Int(8));
        assert_eq!(convert("Port", "x"), Value::Str("x".into()));
        assert_eq!(convert("Float", "0.5"), Value::Float(0.5));
        assert_eq!(convert("List", "a, b,").to_string(), "['a', 'b']");
        assert_eq!(convert("Dict", "k:v").to_string(), "{'k': 'v'}");
        assert_eq!(convert("String", " x "), Value::Str(" x ".into()));
        assert_eq!(coerce("Float", Value::Int(60)).to_string(), "60.0");
        assert_eq!(coerce("List", Value::Tuple(vec![])).to_string(), "[]");
    }

    #[test]
    fn masks_secret_entries_of_dict_values() {
        let value = convert("Dict", "user:admin,password:Planted,nested:x");
        assert_eq!(
            mask_secret_entries(value).to_string(),
            "{'user': 'admin', 'password': '***', 'nested': 'x'}"
        );
        let listed = Value::List(vec![Value::Dict(vec![(
            Value::Str("api_token".into()),
            Value::Str("Planted".into()),
        )])]);
        assert!(!mask_secret_entries(listed).to_string().contains("Planted"));
    }

    #[test]
    fn finds_the_last_line_setting_an_option_in_its_section() {
        let text = "[DEFAULT]\ndebug = true\n[database]\ndebug=1\n# debug = 2\ndebug : 3\n";
        assert_eq!(line_of(text, "DEFAULT", "debug"), Some(2));
        assert_eq!(line_of(text, "database", "debug"), Some(6));
        assert_eq!(line_of(text, "other", "debug"), None);
    }
}
