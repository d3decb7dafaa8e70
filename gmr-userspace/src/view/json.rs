//! The JSON view: the report model serialized as one pretty-printed
//! document, for machines.
//!
//! The model's serde derives already give the wire shape (`null` for
//! unknown values, sections as `{"title", "status", "error", "data"}`), so
//! this view adds nothing but the formatting.

use crate::model::Report;

/// Renders `report` as one pretty-printed JSON document ending in a newline.
pub fn render_json(report: &Report) -> String {
    // The model has only string map keys and no fallible Serialize impls,
    // so serialization cannot fail; a failure would be a model bug.
    let mut json = serde_json::to_string_pretty(report).expect("the report model serializes");
    json.push('\n');
    json
}

/// Renders `report` as the same document on one line, without the newline:
/// for sinks that carry one document per line or per record (stdout, OTLP).
pub fn render_json_line(report: &Report) -> String {
    serde_json::to_string(report).expect("the report model serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Requester, Trigger};
    use crate::view::sample::sample_report;
    use serde_json::{Value, json};

    #[test]
    fn every_trigger_kind_has_every_field() {
        let toucher = Requester {
            pid: 7,
            uid: 0,
            comm: "touch".to_owned(),
        };
        let file = Trigger::File {
            file: "/run/gmr/web.trigger".to_owned(),
            requester: Some(toucher),
        };
        assert_eq!(
            serde_json::to_value(&file).unwrap(),
            json!({
                "kind": "file",
                "signal": null,
                "delivery": null,
                "file": "/run/gmr/web.trigger",
                "requester": {"pid": 7, "uid": 0, "comm": "touch"}
            })
        );
        assert_eq!(
            serde_json::to_value(Trigger::Request { requester: None }).unwrap(),
            json!({
                "kind": "request",
                "signal": null,
                "delivery": null,
                "file": null,
                "requester": null
            })
        );
    }

    #[test]
    fn json_shape() {
        let text = render_json(&sample_report());
        assert!(text.ends_with("}\n"));
        let value: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(
            value["target"],
            json!({
                "pid": 8675,
                "ns_pid": 8675,
                "pid_namespace": 4_026_531_836_u64,
                "container_id": null,
                "pod": null,
                "comm": "mogan-api",
                "exe": "/usr/bin/python3.12"
            }),
            "both pids always, equal outside containers; null for no container"
        );
        assert_eq!(
            value["trigger"],
            json!({
                "kind": "signal",
                "signal": "SIGUSR2",
                "delivery": null,
                "file": null,
                "requester": {"pid": 4242, "uid": 1000, "comm": "kill"}
            })
        );
        assert_eq!(value["generated_at"], "2026-11-26T17:48:46.123456Z");
        let package = &value["sections"][0];
        assert_eq!(
            (&package["title"], &package["status"], &package["error"]),
            (&json!("Package"), &json!("ok"), &Value::Null)
        );
        assert_eq!(package["data"]["executable"], "/usr/bin/python3.12");
        assert_eq!(package["data"]["build_id"], "0123abcd");
        assert_eq!(package["data"]["executable_deleted"], false);
        assert!(
            package["data"]
                .as_object()
                .unwrap()
                .get("vendor")
                .is_some_and(Value::is_null),
            "unknown values are null, never missing: {package}"
        );
        assert_eq!(
            value["sections"][1],
            json!({
                "title": "Open Files",
                "status": "failed",
                "error": "cannot read /proc/8675/fd: permission denied",
                "data": null
            })
        );
        let threads = &value["sections"][2]["data"]["threads"];
        assert_eq!(threads[0]["tid"], 8675);
        assert_eq!(threads[0]["ns_tid"], 8675);
        assert_eq!(
            threads[0]["kernel_stack"][1],
            json!({"address": 0xffff_ffff_8100_0abc_u64, "function": null})
        );
        assert_eq!(
            threads[0]["user_stack"][0],
            json!({
                "kind": "native",
                "address": 0x7f3a_0001_2345_u64,
                "function": "epoll_wait",
                "module": "/usr/lib/libc.so.6",
                "module_offset": 0x12_2345,
                "file": "epoll_wait.c",
                "line": 30,
                "inlined": false,
                "tail_call": false,
                "source": null
            })
        );
        assert_eq!(threads[1]["on_cpu"], true);
        assert_eq!(threads[0]["python_frames"], Value::Null);
        assert_eq!(threads[0]["holds_gil"], Value::Null);
        assert_eq!(value["sections"][2]["data"]["python"], Value::Null);
        let line = render_json_line(&sample_report());
        assert!(!line.contains('\n'), "{line}");
        assert_eq!(
            serde_json::from_str::<Value>(&line).expect("valid JSON"),
            value
        );
    }
}
