//! A Python value read from another process, and its text as Python's
//! `str()` gives it (what oslo.reports prints), so values compare with
//! what the process itself would show.

use std::fmt::{self, Display, Formatter, Write as _};

/// A Python object's value, as far as it was read.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An `int` (or subclass) that fits 120 bits.
    Int(i128),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes`.
    Bytes(Vec<u8>),
    /// A `list`.
    List(Vec<Value>),
    /// A `tuple`.
    Tuple(Vec<Value>),
    /// A `dict`, in its order.
    Dict(Vec<(Value, Value)>),
    /// Any other object, named by its type.
    Object {
        /// Its type's `tp_name`.
        type_name: String,
    },
    /// An object that could not be read, and why.
    Unreadable(String),
}

impl Value {
    /// The text of a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(text) => Some(text),
            _ => None,
        }
    }

    /// Python's `repr()`, as containers show their items.
    pub fn repr(&self) -> String {
        match self {
            Value::Str(text) => {
                let mut out = String::from("'");
                for c in text.chars() {
                    match c {
                        '\'' => out.push_str("\\'"),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        c => out.push(c),
                    }
                }
                out.push('\'');
                out
            }
            Value::Bytes(bytes) => {
                let mut out = String::from("b'");
                for &b in bytes {
                    match b {
                        b'\'' => out.push_str("\\'"),
                        b'\\' => out.push_str("\\\\"),
                        0x20..=0x7e => out.push(b as char),
                        b => {
                            let _ = write!(out, "\\x{b:02x}");
                        }
                    }
                }
                out.push('\'');
                out
            }
            other => other.to_string(),
        }
    }
}

/// Python's `str()`.
impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let items = |f: &mut Formatter<'_>, values: &[Value]| {
            values
                .iter()
                .map(Value::repr)
                .collect::<Vec<_>>()
                .join(", ")
                .fmt(f)
        };
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Int(number) => write!(f, "{number}"),
            Value::Float(number) => f.write_str(&python_float(*number)),
            Value::Str(text) => f.write_str(text),
            Value::Bytes(_) => f.write_str(&self.repr()),
            Value::List(values) => {
                f.write_str("[")?;
                items(f, values)?;
                f.write_str("]")
            }
            Value::Tuple(values) => {
                f.write_str("(")?;
                items(f, values)?;
                f.write_str(if values.len() == 1 { ",)" } else { ")" })
            }
            Value::Dict(entries) => {
                let text = entries
                    .iter()
                    .map(|(key, value)| format!("{}: {}", key.repr(), value.repr()))
                    .collect::<Vec<_>>()
                    .join(", ");
                write!(f, "{{{text}}}")
            }
            Value::Object { type_name } => write!(f, "<{type_name} object>"),
            Value::Unreadable(why) => write!(f, "<unreadable: {why}>"),
        }
    }
}

/// A float as Python's `repr()` writes it: shortest round trip, `.0` on
/// whole numbers, exponent form from 1e16.
fn python_float(number: f64) -> String {
    if number.is_nan() {
        return "nan".to_owned();
    }
    if number.is_infinite() {
        return if number > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if number != 0.0 && !(1e-4..1e16).contains(&number.abs()) {
        let text = format!("{number:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        return format!(
            "{mantissa}e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        );
    }
    let text = format!("{number}");
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::Value;

    #[test]
    fn prints_as_python_str_does() {
        let list = Value::List(vec![Value::Str("a'b".into()), Value::Int(-3), Value::None]);
        assert_eq!(list.to_string(), r"['a\'b', -3, None]");
        let dict = Value::Dict(vec![(Value::Str("k".into()), Value::Bool(true))]);
        assert_eq!(dict.to_string(), "{'k': True}");
        assert_eq!(Value::Tuple(vec![Value::Int(1)]).to_string(), "(1,)");
        assert_eq!(Value::Float(1.0).to_string(), "1.0");
        assert_eq!(Value::Float(0.5).to_string(), "0.5");
        assert_eq!(Value::Float(1e20).to_string(), "1e+20");
        assert_eq!(Value::Str("plain".into()).to_string(), "plain");
    }
}
