//! The OTLP/HTTP logs sink: each report sent to an OpenTelemetry collector
//! as one log record, off the report path.
//!
//! The worker encodes a report ([`record`]) and hands it to the
//! [`OtlpExporter`], which only queues it ([`queue`], bounded by count and
//! bytes) and returns; the exporter's own thread POSTs each request with
//! the configured timeout and retries a collector that is down, slow or
//! busy (a connection error, a timeout, 429, 502, 503, 504) with
//! exponential backoff, forever, while the queue drops its oldest reports
//! to stay within its bounds, logging each drop with counts. So a
//! collector never delays the report files or the next report, and never
//! costs more memory than the queue's bound plus the one request in flight.
//! Other answers (400, 401, 413…) will not change on retry: the report is
//! dropped and the status logged. Header values are never logged.

mod exporter;
mod queue;
mod record;
mod settings;

pub use exporter::OtlpExporter;
pub use settings::{OtlpFileConfig, OtlpSettings};
