//! YAML configuration files, every document of a multi-document stream.

use serde::Deserialize as _;
use serde_norway::Value;

use super::ParseError;
use super::groups::{Node, flatten};
use crate::model::configuration::ConfigGroup;

/// Parses YAML into groups (see [`flatten`]).
pub(super) fn parse(text: &str) -> Result<Vec<ConfigGroup>, ParseError> {
    let mut documents = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|error| {
            let location = error.location();
            ParseError {
                message: ParseError::without_position(&error.to_string()),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
            }
        })?;
        documents.push(node(value));
    }
    Ok(flatten(documents))
}

/// Converts a YAML value; tags are dropped, keys written as scalars.
fn node(value: Value) -> Node {
    match value {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Scalar(b.to_string()),
        Value::Number(n) => Node::Scalar(n.to_string()),
        Value::String(s) => Node::Scalar(s),
        Value::Sequence(items) => Node::List(items.into_iter().map(node).collect()),
        Value::Mapping(entries) => Node::Map(
            entries
                .into_iter()
                .map(|(key, value)| (key_text(key), node(value)))
                .collect(),
        ),
        Value::Tagged(tagged) => node(tagged.value),
    }
}

/// A mapping key as text; a complex key (a list or mapping) as compact YAML.
fn key_text(key: Value) -> String {
    match key {
        Value::String(s) => s,
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Tagged(tagged) => key_text(tagged.value),
        complex => serde_norway::to_string(&complex)
            .map(|text| text.trim().replace('\n', " "))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_from_top_level_mappings() {
        let text = "\
debug: true
database:
  connection: mysql://x
  pool: {size: 5}
hosts: [a, b]
1: one
---
extra:
  tagged: !secret value
";
        let groups = parse(text).expect("parses");
        let flat: Vec<(&str, Vec<(&str, &str)>)> = groups
            .iter()
            .map(|g| {
                let options = g
                    .options
                    .iter()
                    .map(|o| (o.name.as_str(), o.value.as_str()));
                (g.name.as_str(), options.collect())
            })
            .collect();
        assert_eq!(
            flat,
            vec![
                (
                    "DEFAULT",
                    vec![
                        ("1", "one"),
                        ("debug", "true"),
                        ("hosts.0", "a"),
                        ("hosts.1", "b")
                    ]
                ),
                (
                    "database",
                    vec![("connection", "mysql://x"), ("pool.size", "5")]
                ),
                ("extra", vec![("tagged", "value")]),
            ]
        );
    }

    #[test]
    fn errors_have_a_line() {
        let error = parse("a: 1\nb: [unclosed\nc: 3\n").expect_err("bad YAML");
        assert!(error.line.is_some(), "{error:?}");
        assert!(!error.message.contains(" at line "), "{error:?}");
        let error = parse("a: 1\n\tb: 2\n").expect_err("tab indentation");
        assert_eq!(error.line, Some(2), "{error:?}");
    }
}
