//! TOML configuration files.

use toml::{Table, Value};

use super::ParseError;
use super::groups::{Node, flatten};
use crate::model::configuration::ConfigGroup;

/// Parses TOML into groups (see [`flatten`]): top-level tables are groups.
pub(super) fn parse(text: &str) -> Result<Vec<ConfigGroup>, ParseError> {
    let table: Table = text.parse().map_err(|error: toml::de::Error| {
        // The error's Display quotes the offending line, which may hold a
        // secret; only the message and the position are kept.
        let (line, column) = error
            .span()
            .map(|span| line_and_column(text, span.start))
            .unzip();
        ParseError {
            message: error.message().trim().to_owned(),
            line,
            column,
        }
    })?;
    Ok(flatten(vec![node(Value::Table(table))]))
}

/// The 1-based line and column of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Converts a TOML value.
fn node(value: Value) -> Node {
    match value {
        Value::String(s) => Node::Scalar(s),
        Value::Integer(i) => Node::Scalar(i.to_string()),
        Value::Float(f) => Node::Scalar(f.to_string()),
        Value::Boolean(b) => Node::Scalar(b.to_string()),
        Value::Datetime(d) => Node::Scalar(d.to_string()),
        Value::Array(items) => Node::List(items.into_iter().map(node).collect()),
        Value::Table(entries) => Node::Map(
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
    fn tables_become_groups() {
        let text = "title = \"x\"\n[server]\nport = 8080\n[[users]]\nname = \"a\"\n";
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
                ("DEFAULT", vec![("title", "x"), ("users.0.name", "a")]),
                ("server", vec![("port", "8080")]),
            ]
        );
    }

    #[test]
    fn errors_do_not_quote_the_line() {
        let error = parse("[db]\npassword = Hidden-9\n").expect_err("unquoted string");
        assert_eq!(error.line, Some(2), "{error:?}");
        assert!(!error.message.contains("Hidden-9"), "{error:?}");
    }
}
