//! The heap reader against real interpreters: every CPython 3.9 to 3.13
//! found (the tests crate's list) runs a script that builds values and
//! instances and prints `id()` and `str()` of each; the reader must give
//! the same text for every value and the same attribute names for
//! instances whose attributes live in each of the version's places (split
//! values, inline values, a materialized dict). Needs root.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value as Json;

use super::Heap;
use crate::proc::maps;
use crate::python::Interpreter;
use crate::test_support::Reaped;

/// Builds the values, prints them as JSON on one line, then waits.
const SCRIPT: &str = r#"
import json, sys, time
class Few:
    def __init__(self):
        self.x = 1
        self.y = 'two'
class Many:
    def __init__(self):
        for i in range(40):
            setattr(self, 'a%d' % i, i)
few, many, seen = Few(), Many(), Few()
seen.z = [3]
vars(seen)
values = [
    {'a': 1, 'b': [1, 2.5, 'x'], 'c': (None, True, False), 'neg': -12345678901234567890,
     'big': 2**100, 'f': 1e20, 'u': 'h\u00e9llo \u2713 \U0001F600', 'by': b'ab\x00'},
    {i: str(i) for i in range(1000)},
    [0.1, -0.0, 1.0, (1,), {}, [], ''],
]
print(json.dumps({
    'values': [[id(v), str(v)] for v in values],
    'instances': [[id(few), ['x', 'y']], [id(many), ['a%d' % i for i in range(40)]],
                  [id(seen), ['x', 'y', 'z']]],
}), flush=True)
time.sleep(60)
"#;

#[test]
fn values_and_attributes_read_as_python_prints_them() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: reading another process's memory needs root");
        return;
    }
    for python in gmr_tests::python::python_interpreters() {
        let mut child = Command::new(&python.path)
            .args(["-c", SCRIPT])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the script");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let child = Reaped(child);
        let printed: Json = serde_json::from_str(&lines.next().expect("a line").expect("stdout"))
            .expect("the script's JSON");
        let pid = child.0.id();
        let interpreter = Interpreter::detect(pid, &maps::read(pid).expect("maps"))
            .expect("detect")
            .expect("an interpreter");
        let name = format!("{} ({})", python.path.display(), interpreter.version);
        let mut heap = Heap::new(&interpreter, 100_000).expect("a heap layout");
        for value in printed["values"].as_array().expect("values") {
            let (id, text) = (
                value[0].as_u64().expect("id"),
                value[1].as_str().expect("str"),
            );
            assert_eq!(heap.value(id).to_string(), text, "{name}: value at {id:#x}");
        }
        for instance in printed["instances"].as_array().expect("instances") {
            let id = instance[0].as_u64().expect("id");
            let expected: BTreeSet<&str> = instance[1]
                .as_array()
                .expect("names")
                .iter()
                .map(|n| n.as_str().expect("a name"))
                .collect();
            let attributes = heap
                .attributes(id)
                .unwrap_or_else(|e| panic!("{name}: attributes of {id:#x}: {e}"));
            let names: BTreeSet<&str> = attributes.keys().map(String::as_str).collect();
            assert_eq!(names, expected, "{name}: attributes of {id:#x}");
            let first = attributes[*expected.first().expect("a name")];
            assert!(
                matches!(
                    heap.value(first),
                    super::Value::Int(_) | super::Value::Str(_)
                ),
                "{name}: an attribute's value"
            );
        }
        eprintln!("{name}: every value and attribute read as printed");
    }
}
