//! Tests of the suite loader (kept apart to keep suite.rs short).
use super::*;
use crate::exit::Exit;

const SMOKE_IDS: &[&str] = &[
    "permissions.list",
    "permissions.put",
    "permissions.get",
    "permissions.head",
    "permissions.delete",
    "folder.write_scope",
    "folder.list_scope",
    "folder.isolation",
];

#[test]
fn built_in_smoke_suite_loads() {
    let suite = Suite::load("smoke", None).unwrap();
    assert_eq!(suite.name, "smoke");
    assert!(!suite.description.is_empty());
    assert_eq!(suite.ids(), SMOKE_IDS);
    assert_eq!(suite.origin, "suites/smoke.toml (built in)");
    for check in &suite.checks {
        assert_eq!(check.params, CheckParams::default());
    }
}

#[test]
fn built_in_full_suite_is_smoke_and_more() {
    let suite = Suite::load("full", None).unwrap();
    let ids = suite.ids();
    assert_eq!(&ids[..SMOKE_IDS.len()], SMOKE_IDS);
    for id in [
        "cors.preflight.GET",
        "cors.preflight.PUT",
        "cors.preflight.POST",
        "cors.preflight.DELETE",
        "cors.preflight.HEAD",
        "cors.actual_get",
        "cors.expose_headers",
        "presign.get",
        "presign.put",
        "s3.encryption",
        "azure.account_kind",
    ] {
        assert!(ids.contains(&id), "{id}");
    }
    let put = suite
        .checks
        .iter()
        .find(|c| c.id == "cors.preflight.PUT")
        .unwrap();
    assert_eq!(
        put.params.request_headers.for_provider(Provider::Azure),
        Vec::<String>::new()
    );
    assert_eq!(
        put.params.request_headers.for_provider(Provider::S3),
        Vec::<String>::new()
    );
}

#[test]
fn built_in_files_match_the_repository() {
    for name in Suite::built_in_names() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("suites/{name}.toml"));
        let from_file = Suite::load(path.to_str().unwrap(), None).unwrap();
        assert_eq!(from_file.checks, Suite::load(name, None).unwrap().checks);
    }
}

#[test]
fn every_contract_id_is_accepted_with_parameters() {
    let mut text = String::from("name = \"all\"\n");
    for id in KNOWN_CHECK_IDS {
        text.push_str(&format!("[[check]]\nid = \"{id}\"\n"));
    }
    text.push_str(
        "object_size = 65536\nlist_limit = 10\nrequest_headers = { s3 = [\"x-amz-acl\"] }\n",
    );
    let suite = Suite::parse(&text, "all.toml").unwrap();
    assert_eq!(suite.ids(), KNOWN_CHECK_IDS);
    let last = suite.checks.last().unwrap();
    assert_eq!(last.params.object_size, 65536);
    assert_eq!(last.params.list_limit, 10);
    assert_eq!(last.params.request_headers.s3, ["x-amz-acl"]);
    assert!(last.params.request_headers.gcs.is_empty());
}

#[test]
fn duplicate_check_names_both_lines() {
    let text =
        "name = \"x\"\n[[check]]\nid = \"permissions.put\"\n[[check]]\nid = \"permissions.put\"\n";
    let err = Suite::parse(text, "x.toml").unwrap_err();
    assert!(
        matches!(
            err,
            SuiteError::DuplicateCheck {
                line: 5,
                first_line: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("at lines 3 and 5"), "{err}");
}

#[test]
fn unknown_check_id_names_file_line_and_suggestion() {
    let text = "name = \"x\"\n\n[[check]]\nid = \"permissions.list\"\n\n[[check]]\nid = \"permisions.put\"\n";
    let err = Suite::parse(text, "suites/x.toml").unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(
            "unknown check id `permisions.put` at suites/x.toml:7; known ids: permissions.list,"
        ),
        "{message}"
    );
    assert!(
        message.ends_with("did you mean `permissions.put`?"),
        "{message}"
    );
    assert_eq!(RunError::from(err).exit(), Exit::BadInput);

    let text = "name = \"x\"\n[[check]]\nid = \"cors.preflight.get\"\n";
    let message = Suite::parse(text, "x.toml").unwrap_err().to_string();
    assert!(
        message.contains("did you mean `cors.preflight.GET`?"),
        "{message}"
    );

    let text = "name = \"x\"\n[[check]]\nid = \"something.else.entirely\"\n";
    let message = Suite::parse(text, "x.toml").unwrap_err().to_string();
    assert!(!message.contains("did you mean"), "{message}");
}

#[test]
fn unknown_field_names_line() {
    let text = "name = \"x\"\n[[check]]\nid = \"permissions.put\"\nobject_sise = 10\n";
    let err = Suite::parse(text, "x.toml").unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, SuiteError::Syntax { line: 4, .. }),
        "{message}"
    );
    assert!(
        message.starts_with("x.toml:4: unknown field `object_sise`"),
        "{message}"
    );
    assert!(message.contains("object_size"), "{message}");

    let text = "name = \"x\"\nsuite = 1\n[[check]]\nid = \"permissions.put\"\n";
    let err = Suite::parse(text, "x.toml").unwrap_err();
    assert!(matches!(err, SuiteError::Syntax { line: 2, .. }), "{err}");

    let text = "name = \"x\"\n[[check]]\nid = \"cors.preflight.PUT\"\nrequest_headers = { aws = [\"a\"] }\n";
    let err = Suite::parse(text, "x.toml").unwrap_err();
    assert!(matches!(err, SuiteError::Syntax { line: 4, .. }), "{err}");
}

#[test]
fn bad_toml_and_wrong_types_name_line() {
    let text = "name = \"x\"\n[[check]]\nid = permissions.put\n";
    let err = Suite::parse(text, "x.toml").unwrap_err();
    assert!(matches!(err, SuiteError::Syntax { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("docs/suites.md"), "{err}");

    let text = "name = \"x\"\n[[check]]\nid = \"permissions.put\"\nobject_size = \"1k\"\n";
    let err = Suite::parse(text, "x.toml").unwrap_err();
    assert!(matches!(err, SuiteError::Syntax { line: 4, .. }), "{err}");

    let err = Suite::parse("[[check]]\nid = \"permissions.put\"\n", "x.toml").unwrap_err();
    assert!(err.to_string().contains("name"), "{err}");
}

#[test]
fn parameters_out_of_range_name_line() {
    let text = "name = \"x\"\n[[check]]\nid = \"permissions.put\"\nobject_size = 0\n";
    let err = Suite::parse(text, "x.toml").unwrap_err();
    assert!(
        matches!(err, SuiteError::BadParameter { line: 4, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("use 1 to"), "{err}");

    let text = "name = \"x\"\n[[check]]\nid = \"folder.isolation\"\n\nlist_limit = 0\n";
    let err = Suite::parse(text, "x.toml").unwrap_err();
    assert!(
        matches!(err, SuiteError::BadParameter { line: 5, .. }),
        "{err}"
    );

    let text = "name = \"x\"\n[[check]]\nid = \"cors.preflight.PUT\"\nrequest_headers = { s3 = [\"Content-Type: text/plain\"] }\n";
    let err = Suite::parse(text, "x.toml").unwrap_err();
    assert!(
        matches!(err, SuiteError::BadParameter { line: 4, .. }),
        "{err}"
    );
}

#[test]
fn empty_suite_is_an_error() {
    let err = Suite::parse("name = \"x\"\n", "x.toml").unwrap_err();
    assert!(matches!(err, SuiteError::Empty { .. }), "{err}");
}

#[test]
fn names_and_paths_resolve() {
    let err = Suite::load("smok", None).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("no suite named `smok`"), "{message}");
    assert!(message.contains("smoke, full"), "{message}");

    let err = Suite::load("does/not/exist.toml", None).unwrap_err();
    assert!(matches!(err, SuiteError::Read { .. }), "{err}");
    assert!(err.to_string().contains("does/not/exist.toml"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let custom = "name = \"mine\"\n[[check]]\nid = \"permissions.get\"\n";
    std::fs::write(dir.path().join("mine.toml"), custom).unwrap();
    let suite = Suite::load("mine", Some(dir.path())).unwrap();
    assert_eq!(suite.ids(), ["permissions.get"]);
    // A built-in name still resolves when the directory has no such file.
    assert_eq!(
        Suite::load("smoke", Some(dir.path())).unwrap().name,
        "smoke"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"bad\"\n[[check]]\nid = \"nope\"\n").unwrap();
    let message = Suite::load(bad.to_str().unwrap(), None)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&format!("{}:3", bad.display())),
        "{message}"
    );
}

#[test]
fn typo_distance() {
    assert_eq!(distance("permisions.put", "permissions.put"), 1);
    assert_eq!(distance("", "abc"), 3);
    assert_eq!(distance("abc", "abc"), 0);
    assert_eq!(closest_id("presign.got").as_deref(), Some("presign.get"));
}
