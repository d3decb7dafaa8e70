//! JSON configuration files.

use serde_json::Value;

use super::ParseError;
use super::groups::{Node, flatten};
use crate::model::configuration::ConfigGroup;

/// Parses JSON into groups (see [`flatten`]).
pub(super) fn parse(text: &str) -> Result<Vec<ConfigGroup>, ParseError> {
    let value: Value = serde_json::from_str(text).map_err(|error| ParseError {
        message: ParseError::without_position(&error.to_string()),
        line: Some(error.line()).filter(|&line| line > 0),
        column: Some(error.column()).filter(|&column| column > 0),
    })?;
    Ok(flatten(vec![node(value)]))
}

/// Converts a JSON value.
fn node(value: Value) -> Node {
    match value {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Scalar(b.to_string()),
        Value::Number(n) => Node::Scalar(n.to_string()),
        Value::String(s) => Node::Scalar(s),
        Value::Array(items) => Node::List(items.into_iter().map(node).collect()),
        Value::Object(entries) => Node::Map(
            entries
                .into_iter()
                .map(|(key, value)| (key, node(value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_become_groups() {
        let groups = parse(r#"{"db": {"url": "x", "pool": [1, 2]}, "debug": false, "n": null}"#)
            .expect("parses");
        assert_eq!(groups[0].name, "DEFAULT");
        assert_eq!(groups[0].options[0].name, "debug");
        assert_eq!(groups[0].options[0].value, "false");
        assert_eq!(groups[0].options[1].value, "null");
        assert_eq!(groups[1].name, "db");
        let names: Vec<&str> = groups[1].options.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["pool.0", "pool.1", "url"]);
    }

    #[test]
    fn errors_have_a_line_and_column() {
        let error = parse("{\n  \"a\": 1,\n  \"b\" 2\n}").expect_err("bad JSON");
        assert_eq!((error.line, error.column), (Some(3), Some(7)), "{error:?}");
        assert_eq!(error.message, "expected `:`");
    }
}
