//! One report as an OTLP logs request: the resource that says whose report
//! it is, and one log record whose body is the JSON view's document.
//!
//! The body is that document as a string, not a structured `AnyValue`:
//! `AnyValue` integers are signed 64-bit, so kernel addresses
//! (`0xffffffff8…`) would have to change type, and a collector or backend
//! parses a JSON body as readily. The receiver gets byte for byte what the
//! report directory's `.json` file holds (compact instead of indented).

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::{
    collector::logs::v1::ExportLogsServiceRequest,
    common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value},
    logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber},
    resource::v1::Resource,
};
use prost::Message as _;

use crate::{model::Report, view::render_json_line};

/// The instrumentation scope named on every record.
const SCOPE: &str = "gmr-agent";

/// Who a report is about, beyond the report itself.
pub struct Origin<'a> {
    /// This host's name (`host.name`).
    pub host: &'a str,
    /// The report's tag (`service.name`).
    pub tag: &'a str,
}

/// `report` as an encoded `ExportLogsServiceRequest` holding one record.
pub fn encode(report: &Report, origin: &Origin<'_>) -> Vec<u8> {
    request(report, origin).encode_to_vec()
}

/// The request, before encoding.
fn request(report: &Report, origin: &Origin<'_>) -> ExportLogsServiceRequest {
    let observed = unix_nanos(SystemTime::now());
    let time = unix_nanos(report.generated_at.instant());
    let record = LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: observed,
        severity_number: SeverityNumber::Info as i32,
        severity_text: "INFO".to_owned(),
        event_name: "gmr.report".to_owned(),
        body: Some(string(render_json_line(report))),
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: resource_attributes(report, origin),
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: SCOPE.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                log_records: vec![record],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The resource's attributes, by the OpenTelemetry semantic conventions;
/// one line each, an unknown value leaves its attribute out.
fn resource_attributes(report: &Report, origin: &Origin<'_>) -> Vec<KeyValue> {
    let target = &report.target;
    let pod = target.pod.as_ref();
    [
        ("host.name", Some(string(origin.host.to_owned()))),
        ("service.name", Some(string(origin.tag.to_owned()))),
        ("process.pid", Some(int(target.pid.into()))),
        ("process.executable.name", Some(string(target.comm.clone()))),
        ("container.id", target.container_id.clone().map(string)),
        (
            "k8s.namespace.name",
            pod.map(|pod| string(pod.namespace.clone())),
        ),
        ("k8s.pod.name", pod.map(|pod| string(pod.name.clone()))),
        ("k8s.pod.uid", pod.map(|pod| string(pod.uid.clone()))),
        (
            "k8s.container.name",
            pod.and_then(|pod| pod.container.clone()).map(string),
        ),
    ]
    .into_iter()
    .filter_map(|(key, value)| {
        Some(KeyValue {
            key: key.to_owned(),
            value: Some(value?),
            ..Default::default()
        })
    })
    .collect()
}

fn string(text: String) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(text)),
    }
}

fn int(number: i64) -> AnyValue {
    AnyValue {
        value: Some(Value::IntValue(number)),
    }
}

/// Nanoseconds since the epoch, 0 for a clock before it.
fn unix_nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PodIdentity;
    use crate::view::{render_json, sample::sample_report};

    fn attribute<'a>(resource: &'a Resource, key: &str) -> Option<&'a Value> {
        resource
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    #[test]
    fn one_record_with_the_json_document_and_the_resource() {
        let report = sample_report();
        let origin = Origin {
            host: "compute-7",
            tag: "mogan-api",
        };
        let bytes = encode(&report, &origin);
        let decoded = ExportLogsServiceRequest::decode(bytes.as_slice()).expect("decodes");
        let resource_logs = &decoded.resource_logs[0];
        let resource = resource_logs.resource.as_ref().unwrap();
        assert_eq!(
            attribute(resource, "host.name"),
            Some(&Value::StringValue("compute-7".into()))
        );
        assert_eq!(
            attribute(resource, "service.name"),
            Some(&Value::StringValue("mogan-api".into()))
        );
        assert_eq!(
            attribute(resource, "process.pid"),
            Some(&Value::IntValue(8675))
        );
        assert_eq!(
            attribute(resource, "container.id"),
            None,
            "not in a container"
        );
        let records = &resource_logs.scope_logs[0].log_records;
        assert_eq!(records.len(), 1);
        let Some(Value::StringValue(body)) = records[0].body.as_ref().and_then(|b| b.value.clone())
        else {
            panic!("a string body: {:?}", records[0].body);
        };
        assert!(!body.contains('\n'), "one line");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        let view: serde_json::Value = serde_json::from_str(&render_json(&report)).unwrap();
        assert_eq!(body, view, "the JSON view's document");
        // 2026-11-26T17:48:46.123456Z
        assert_eq!(records[0].time_unix_nano, 1_795_715_326_123_456_000);
    }

    #[test]
    fn a_container_process_carries_its_container_id() {
        let mut report = sample_report();
        let id = "3f2a7c9e1b4d".repeat(5) + "3f2a";
        report.target.container_id = Some(id.clone());
        let origin = Origin {
            host: "compute-7",
            tag: "mogan-api",
        };
        let request = request(&report, &origin);
        let resource = request.resource_logs[0].resource.as_ref().unwrap();
        assert_eq!(
            attribute(resource, "container.id"),
            Some(&Value::StringValue(id))
        );
        assert_eq!(attribute(resource, "k8s.pod.name"), None);
    }

    #[test]
    fn a_pod_process_carries_its_kubernetes_identity() {
        let mut report = sample_report();
        report.target.pod = Some(PodIdentity {
            namespace: "openstack".to_owned(),
            name: "nova-api-0".to_owned(),
            uid: "0b5f3a2c-7d1e-4c9a-8f6b-2e4d1a9c7b30".to_owned(),
            container: Some("api".to_owned()),
        });
        let origin = Origin {
            host: "compute-7",
            tag: "nova-api",
        };
        let request = request(&report, &origin);
        let resource = request.resource_logs[0].resource.as_ref().unwrap();
        for (key, value) in [
            ("k8s.namespace.name", "openstack"),
            ("k8s.pod.name", "nova-api-0"),
            ("k8s.pod.uid", "0b5f3a2c-7d1e-4c9a-8f6b-2e4d1a9c7b30"),
            ("k8s.container.name", "api"),
        ] {
            assert_eq!(
                attribute(resource, key),
                Some(&Value::StringValue(value.to_owned())),
                "{key}"
            );
        }
    }
}
