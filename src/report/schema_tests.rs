//! The committed schema (reports/report.schema.json) against real report output.
use serde_json::{Value, json};

use super::json::JsonExporter;
use super::{Exporter, RunReport, sample};
use crate::checks::suite::KNOWN_CHECK_IDS;

fn schema() -> Value {
    serde_json::from_str(include_str!("../../reports/report.schema.json")).unwrap()
}

fn validator() -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema())
        .expect("the schema compiles")
}

fn rendered(report: &RunReport) -> Value {
    serde_json::from_slice(&JsonExporter.render(report)).unwrap()
}

fn errors(instance: &Value) -> Vec<String> {
    let validator = validator();
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn schema_is_valid_draft_2020_12() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    jsonschema::meta::validate(&schema).expect("a valid JSON Schema");
}

#[test]
fn real_reports_validate() {
    let full = sample::full_report();
    let problems = errors(&rendered(&full));
    assert!(problems.is_empty(), "{problems:#?}");

    let mut empty = sample::empty_report();
    empty.finish(true);
    let problems = errors(&rendered(&empty));
    assert!(problems.is_empty(), "{problems:#?}");

    let mut open = sample::full_report();
    let load = open.load.as_mut().unwrap();
    load.mode = super::LoadMode::Open;
    load.rate = Some(250.0);
    load.shard = Some(crate::load::Shard { index: 2, count: 3 });
    load.stop_reason = Some(crate::report::StopReason::AutotermStable);
    open.target.endpoint = None;
    open.target.region = None;
    let problems = errors(&rendered(&open));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn bad_reports_do_not_validate() {
    let good = rendered(&sample::full_report());

    let mut bad_status = good.clone();
    bad_status["checks"][0]["status"] = json!("passed");
    let problems = errors(&bad_status);
    assert!(!problems.is_empty());
    assert!(problems[0].contains("/checks/0/status"), "{problems:?}");

    let mut unknown_id = good.clone();
    unknown_id["checks"][0]["id"] = json!("permisions.list");
    assert!(!errors(&unknown_id).is_empty());

    let mut secret = good.clone();
    secret["target"]["secret_access_key"] = json!("hunter2");
    assert!(!errors(&secret).is_empty());

    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("summary");
    assert!(!errors(&missing).is_empty());

    let mut bad_time = good;
    bad_time["started_at"] = json!("yesterday");
    assert!(!errors(&bad_time).is_empty());
}

#[test]
fn schema_knows_exactly_the_contract_check_ids() {
    let validator = validator();
    let with_id = |id: &str| {
        let mut report = rendered(&sample::full_report());
        report["checks"][0]["id"] = json!(id);
        report
    };
    for id in KNOWN_CHECK_IDS {
        assert!(validator.is_valid(&with_id(id)), "{id}");
    }
    assert!(!validator.is_valid(&with_id("cors.preflight.PATCH")));
}
