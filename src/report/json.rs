//! The JSON exporter: the report as it is, pretty-printed (schema: reports/report.schema.json).
use super::{Exporter, RunReport};

/// Pretty JSON, one trailing newline.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn render(&self, report: &RunReport) -> Vec<u8> {
        // A report holds strings, numbers, maps with string keys and JSON values only.
        let mut bytes = serde_json::to_vec_pretty(report).expect("a RunReport serializes to JSON");
        bytes.push(b'\n');
        bytes
    }

    fn file_name(&self) -> &'static str {
        "report.json"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn round_trips() {
        let report = sample::full_report();
        let bytes = JsonExporter.render(&report);
        assert!(bytes.ends_with(b"}\n"));
        let back: RunReport = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn omits_load_when_not_run() {
        let report = sample::empty_report();
        let value: serde_json::Value =
            serde_json::from_slice(&JsonExporter.render(&report)).unwrap();
        assert!(value.get("load").is_none());
        assert_eq!(value["schema_version"], 1);
    }
}
