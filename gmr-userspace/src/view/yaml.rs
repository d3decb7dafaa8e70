//! The YAML view: the same document as the JSON view, as YAML.

use crate::model::Report;

/// Renders `report` as one YAML document.
pub fn render_yaml(report: &Report) -> String {
    serde_norway::to_string(report).expect("the report model always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{json::render_json, sample::sample_report};

    #[test]
    fn yaml_and_json_hold_the_same_document() {
        let report = sample_report();
        let from_yaml: serde_json::Value = serde_norway::from_str(&render_yaml(&report)).unwrap();
        let from_json: serde_json::Value = serde_json::from_str(&render_json(&report)).unwrap();
        assert_eq!(from_yaml, from_json);
    }
}
