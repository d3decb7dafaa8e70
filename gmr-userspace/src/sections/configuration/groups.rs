//! The group list every format produces, and the flattening of nested
//! documents (YAML, TOML, JSON) into it.
//!
//! Groups come out as oslo-config-generator writes them: `DEFAULT` first,
//! then the others sorted by name. Options within a group are sorted by
//! name, as oslo.reports' key-value view sorts them, with list indexes
//! compared as numbers (`hosts.2` before `hosts.10`); the sort is stable, so
//! an option repeated in a file (oslo's MultiStrOpt) keeps its values in
//! file order. A group that appears twice in a file is one group.

use std::cmp::Ordering;

use crate::model::configuration::{ConfigGroup, ConfigOption};

/// The group of options outside any section or table.
pub(super) const DEFAULT_GROUP: &str = "DEFAULT";

/// Groups being collected from one file.
#[derive(Debug, Default)]
pub(super) struct Groups {
    groups: Vec<ConfigGroup>,
}

impl Groups {
    /// The options of group `name`, created empty if new.
    pub(super) fn group(&mut self, name: &str) -> &mut Vec<ConfigOption> {
        let index = match self.groups.iter().position(|g| g.name == name) {
            Some(index) => index,
            None => {
                self.groups.push(ConfigGroup {
                    name: name.to_owned(),
                    options: Vec::new(),
                });
                self.groups.len() - 1
            }
        };
        &mut self.groups[index].options
    }

    /// Adds option `name = value` to group `group`.
    pub(super) fn option(&mut self, group: &str, name: String, value: String) {
        self.group(group).push(ConfigOption { name, value });
    }

    /// The groups in report order: `DEFAULT`, then by name; options by name.
    pub(super) fn finish(mut self) -> Vec<ConfigGroup> {
        self.groups.sort_by(|a, b| {
            (a.name != DEFAULT_GROUP)
                .cmp(&(b.name != DEFAULT_GROUP))
                .then_with(|| a.name.cmp(&b.name))
        });
        for group in &mut self.groups {
            group.options.sort_by(|a, b| option_order(&a.name, &b.name));
        }
        self.groups
    }
}

/// Orders dotted option names segment by segment, numbers as numbers.
fn option_order(a: &str, b: &str) -> Ordering {
    let mut a_parts = a.split('.');
    let mut b_parts = b.split('.');
    loop {
        match (a_parts.next(), b_parts.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// A parsed structured document, whatever its format.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Node {
    /// A string, number, boolean or date, as text.
    Scalar(String),
    /// YAML's or JSON's null.
    Null,
    /// A sequence.
    List(Vec<Node>),
    /// A mapping, in the document's order where the parser keeps it.
    Map(Vec<(String, Node)>),
}

/// Flattens documents into groups: a top-level key holding a non-empty
/// mapping is a group, every other top-level key is an option of
/// `DEFAULT`; below that, keys are joined with `.` and list items are
/// numbered from 0 (`users.0.name`).
pub(super) fn flatten(documents: Vec<Node>) -> Vec<ConfigGroup> {
    let mut groups = Groups::default();
    for document in documents {
        match document {
            Node::Map(entries) => {
                for (key, value) in entries {
                    match value {
                        Node::Map(inner) if !inner.is_empty() => {
                            let options = groups.group(&key);
                            for (name, node) in inner {
                                flatten_into(options, name, node);
                            }
                        }
                        other => flatten_into(groups.group(DEFAULT_GROUP), key, other),
                    }
                }
            }
            Node::List(items) => {
                let options = groups.group(DEFAULT_GROUP);
                for (index, item) in items.into_iter().enumerate() {
                    flatten_into(options, index.to_string(), item);
                }
            }
            scalar => flatten_into(groups.group(DEFAULT_GROUP), "value".to_owned(), scalar),
        }
    }
    groups.finish()
}

/// Adds `node` under option name `name`, one option per scalar inside it.
fn flatten_into(options: &mut Vec<ConfigOption>, name: String, node: Node) {
    match node {
        Node::Scalar(value) => options.push(ConfigOption { name, value }),
        Node::Null => options.push(ConfigOption {
            name,
            value: "null".to_owned(),
        }),
        Node::List(items) if items.is_empty() => options.push(ConfigOption {
            name,
            value: "[]".to_owned(),
        }),
        Node::Map(entries) if entries.is_empty() => options.push(ConfigOption {
            name,
            value: "{}".to_owned(),
        }),
        Node::List(items) => {
            for (index, item) in items.into_iter().enumerate() {
                flatten_into(options, format!("{name}.{index}"), item);
            }
        }
        Node::Map(entries) => {
            for (key, value) in entries {
                flatten_into(options, format!("{name}.{key}"), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(text: &str) -> Node {
        Node::Scalar(text.to_owned())
    }

    fn names(groups: &[ConfigGroup]) -> Vec<(&str, Vec<(&str, &str)>)> {
        groups
            .iter()
            .map(|g| {
                let options = g
                    .options
                    .iter()
                    .map(|o| (o.name.as_str(), o.value.as_str()))
                    .collect();
                (g.name.as_str(), options)
            })
            .collect()
    }

    #[test]
    fn default_first_then_by_name_repeats_in_order() {
        let mut groups = Groups::default();
        groups.option("zeta", "b".into(), "1".into());
        groups.option("alpha", "x".into(), "1".into());
        groups.option(DEFAULT_GROUP, "debug".into(), "True".into());
        groups.option("zeta", "a".into(), "first".into());
        groups.option("zeta", "a".into(), "second".into());
        groups.group("empty");
        assert_eq!(
            names(&groups.finish()),
            vec![
                ("DEFAULT", vec![("debug", "True")]),
                ("alpha", vec![("x", "1")]),
                ("empty", vec![]),
                ("zeta", vec![("a", "first"), ("a", "second"), ("b", "1")]),
            ]
        );
    }

    #[test]
    fn nested_documents_flatten_to_dotted_options() {
        let hosts = (0..12).map(|i| scalar(&format!("h{i}"))).collect();
        let document = Node::Map(vec![
            ("debug".into(), scalar("true")),
            ("nothing".into(), Node::Null),
            ("empty".into(), Node::Map(vec![])),
            (
                "database".into(),
                Node::Map(vec![
                    ("hosts".into(), Node::List(hosts)),
                    (
                        "users".into(),
                        Node::List(vec![Node::Map(vec![
                            ("name".into(), scalar("nova")),
                            ("tags".into(), Node::List(vec![])),
                        ])]),
                    ),
                ]),
            ),
        ]);
        let groups = flatten(vec![document, Node::List(vec![scalar("second document")])]);
        let flat = names(&groups);
        assert_eq!(
            flat[0],
            (
                "DEFAULT",
                vec![
                    ("0", "second document"),
                    ("debug", "true"),
                    ("empty", "{}"),
                    ("nothing", "null"),
                ]
            )
        );
        let (name, options) = &flat[1];
        assert_eq!(*name, "database");
        let option_names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        assert_eq!(option_names[..3], ["hosts.0", "hosts.1", "hosts.2"]);
        assert_eq!(option_names[11], "hosts.11");
        assert_eq!(
            options[12..],
            [("users.0.name", "nova"), ("users.0.tags", "[]")]
        );
    }
}
