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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Package, Requester, Section, SectionData, Target, Trigger, TriggerKind};
    use serde_json::{Value, json};

    fn sample() -> Report {
        Report {
            target: Target {
                pid: 8675,
                comm: "mogan-api".to_owned(),
                exe: None,
            },
            trigger: Trigger {
                kind: TriggerKind::Signal,
                signal: Some("SIGUSR2".to_owned()),
                requester: Some(Requester {
                    pid: 4242,
                    uid: 1000,
                    comm: "kill".to_owned(),
                }),
            },
            generated_at: "2026-11-26T17:48:46.123456Z".to_owned(),
            sections: vec![
                Section {
                    title: "Package".to_owned(),
                    body: Ok(SectionData::Package(Package {
                        executable: Some("/usr/bin/python3.12".to_owned()),
                        executable_deleted: true,
                        build_id: None,
                        gmr_version: "0.1.0".to_owned(),
                        kernel: "6.18.0".to_owned(),
                    })),
                },
                Section {
                    title: "Threads".to_owned(),
                    body: Err("process 8675 has exited".to_owned()),
                },
            ],
        }
    }

    #[test]
    fn json_shape() {
        let text = render_json(&sample());
        assert!(text.ends_with("}\n"));
        let value: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(
            value["target"],
            json!({"pid": 8675, "comm": "mogan-api", "exe": null})
        );
        assert_eq!(
            value["trigger"],
            json!({
                "kind": "signal",
                "signal": "SIGUSR2",
                "requester": {"pid": 4242, "uid": 1000, "comm": "kill"}
            })
        );
        assert_eq!(value["generated_at"], "2026-11-26T17:48:46.123456Z");
        assert_eq!(
            value["sections"][0],
            json!({
                "title": "Package",
                "status": "ok",
                "error": null,
                "data": {
                    "executable": "/usr/bin/python3.12",
                    "executable_deleted": true,
                    "build_id": null,
                    "gmr_version": "0.1.0",
                    "kernel": "6.18.0"
                }
            })
        );
        assert_eq!(
            value["sections"][1],
            json!({
                "title": "Threads",
                "status": "failed",
                "error": "process 8675 has exited",
                "data": null
            })
        );
    }
}
