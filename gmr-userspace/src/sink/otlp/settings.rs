//! The `otlp:` configuration: as written in the agent's file, and checked
//! into what the exporter runs with.
//!
//! Header values usually hold an API key, so they are kept in
//! [`HeaderSecret`], whose `Debug` never shows them, and no error here
//! quotes a value. An endpoint with credentials in it (`user:pass@`, a
//! query string) is refused for the same reason: the endpoint is logged.

use std::{collections::BTreeMap, fmt, time::Duration};

use serde::Deserialize;
use ureq::http::{HeaderName, HeaderValue, Uri};

/// Default `timeout_seconds`: one request's whole time, connect included.
const DEFAULT_TIMEOUT_SECONDS: f64 = 10.0;
/// Default `max_queue_reports`: reports waiting while the collector is down.
const DEFAULT_MAX_QUEUE_REPORTS: usize = 64;
/// Default `max_queue_bytes`: encoded bytes waiting (reports run 20–500 KiB).
const DEFAULT_MAX_QUEUE_BYTES: usize = 16 * 1024 * 1024;
/// The OTLP/HTTP logs path, added to an endpoint given without a path.
const LOGS_PATH: &str = "/v1/logs";

/// `otlp:` as written in the configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpFileConfig {
    endpoint: String,
    #[serde(default)]
    headers: BTreeMap<String, HeaderSecret>,
    timeout_seconds: Option<f64>,
    max_queue_reports: Option<usize>,
    max_queue_bytes: Option<usize>,
}

/// A header value kept out of logs and `Debug` output.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct HeaderSecret(String);

impl fmt::Debug for HeaderSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// The checked `otlp:` settings the exporter runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpSettings {
    /// Where log records are POSTed (`…/v1/logs`).
    pub endpoint: Uri,
    /// Extra request headers (an API key, a tenant), values secret.
    pub headers: Vec<(HeaderName, HeaderSecret)>,
    /// One request's whole time.
    pub timeout: Duration,
    /// Most reports waiting to be sent.
    pub max_queue_reports: usize,
    /// Most encoded bytes waiting to be sent.
    pub max_queue_bytes: usize,
}

impl OtlpSettings {
    /// The endpoint as logged: scheme, host, port and path.
    pub fn shown_endpoint(&self) -> String {
        self.endpoint.to_string()
    }

    /// The header values as the HTTP client takes them.
    pub fn header_values(&self) -> impl Iterator<Item = (&HeaderName, &str)> {
        self.headers
            .iter()
            .map(|(name, HeaderSecret(value))| (name, value.as_str()))
    }
}

impl TryFrom<OtlpFileConfig> for OtlpSettings {
    type Error = String;

    /// Checks each field; an error names it (`otlp.endpoint`, `otlp.headers.NAME`…)
    /// and never quotes a header's value.
    fn try_from(file: OtlpFileConfig) -> Result<Self, String> {
        let endpoint = endpoint(&file.endpoint).map_err(|e| format!("otlp.endpoint: {e}"))?;
        let headers = file
            .headers
            .into_iter()
            .map(|(name, value)| header(&name, value))
            .collect::<Result<_, _>>()?;
        let seconds = file.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
        if !(seconds > 0.0 && seconds <= 600.0) {
            return Err(format!(
                "otlp.timeout_seconds must be above 0 and at most 600, not {seconds}"
            ));
        }
        let max_queue_reports = file.max_queue_reports.unwrap_or(DEFAULT_MAX_QUEUE_REPORTS);
        let max_queue_bytes = file.max_queue_bytes.unwrap_or(DEFAULT_MAX_QUEUE_BYTES);
        if max_queue_reports == 0 || max_queue_bytes == 0 {
            return Err(
                "otlp.max_queue_reports and otlp.max_queue_bytes must be above 0".to_owned(),
            );
        }
        Ok(Self {
            endpoint,
            headers,
            timeout: Duration::from_secs_f64(seconds),
            max_queue_reports,
            max_queue_bytes,
        })
    }
}

/// An `http://` or `https://` URL with a host and no credentials; an empty
/// path becomes `/v1/logs`, as for `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn endpoint(text: &str) -> Result<Uri, String> {
    let uri: Uri = text
        .parse()
        .map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!("{text:?} must start with http:// or https://"));
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("{text:?} names no host"));
    };
    if authority.as_str().contains('@') || uri.query().is_some() {
        // The endpoint is logged; credentials belong in `headers`.
        return Err(
            "must not hold credentials (user:password@ or a query string): put them in otlp.headers"
                .to_owned(),
        );
    }
    if matches!(uri.path(), "" | "/") {
        let scheme = uri.scheme_str().unwrap_or("http");
        return format!("{scheme}://{authority}{LOGS_PATH}")
            .parse()
            .map_err(|e| format!("{text:?}: {e}"));
    }
    Ok(uri)
}

/// One `headers:` entry, checked as HTTP allows.
fn header(name: &str, value: HeaderSecret) -> Result<(HeaderName, HeaderSecret), String> {
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("otlp.headers: {name:?} is not a valid HTTP header name"))?;
    HeaderValue::from_str(&value.0).map_err(|_| {
        format!(
            "otlp.headers.{name}: the value is not a valid HTTP header value (control characters or non-ASCII)"
        )
    })?;
    Ok((header_name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Result<OtlpSettings, String> {
        let file: OtlpFileConfig = serde_norway::from_str(yaml).map_err(|e| e.to_string())?;
        OtlpSettings::try_from(file)
    }

    #[test]
    fn an_endpoint_without_a_path_gets_the_logs_path() {
        let s = settings("endpoint: http://127.0.0.1:4318\n").unwrap();
        assert_eq!(s.shown_endpoint(), "http://127.0.0.1:4318/v1/logs");
        assert_eq!(s.timeout, Duration::from_secs(10));
        let s = settings("endpoint: https://otel.example:443/custom/logs\ntimeout_seconds: 2.5\n")
            .unwrap();
        assert_eq!(s.shown_endpoint(), "https://otel.example:443/custom/logs");
        assert_eq!(s.timeout, Duration::from_millis(2500));
    }

    #[test]
    fn bad_fields_are_named_and_secrets_never_quoted() {
        for (yaml, wanted) in [
            ("endpoint: 127.0.0.1:4318\n", "otlp.endpoint"),
            ("endpoint: ftp://host/x\n", "otlp.endpoint"),
            ("endpoint: 'http://'\n", "otlp.endpoint"),
            ("endpoint: http://u:hunter2@host/\n", "otlp.endpoint"),
            (
                "endpoint: http://host/v1/logs?token=hunter2\n",
                "otlp.endpoint",
            ),
            (
                "endpoint: http://h\nheaders: {\"bad name\": hunter2}\n",
                "otlp.headers: \"bad name\"",
            ),
            (
                "endpoint: http://h\nheaders: {x-api-key: \"hunter2\\n\"}\n",
                "otlp.headers.x-api-key",
            ),
            (
                "endpoint: http://h\ntimeout_seconds: 0\n",
                "otlp.timeout_seconds",
            ),
            (
                "endpoint: http://h\nmax_queue_reports: 0\n",
                "otlp.max_queue_reports",
            ),
        ] {
            let err = settings(yaml).unwrap_err();
            assert!(err.contains(wanted), "{yaml}: {err}");
            assert!(!err.contains("hunter2"), "a secret in an error: {err}");
        }
    }

    #[test]
    fn header_values_stay_out_of_debug_output() {
        let s = settings("endpoint: http://h\nheaders: {x-api-key: hunter2}\n").unwrap();
        let shown = format!("{s:?}");
        assert!(
            shown.contains("x-api-key") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert_eq!(
            s.header_values().collect::<Vec<_>>(),
            [(&HeaderName::from_static("x-api-key"), "hunter2")]
        );
    }
}
