//! Running `lsprobe check` as a user does, and reading its JSON report.
use std::collections::BTreeMap;
use std::path::Path;

/// What one `lsprobe check` run gave.
pub struct CheckRun {
    /// Exit code.
    pub code: i32,
    /// The JSON report (stdout with `--format json`).
    pub report: serde_json::Value,
    /// Standard error.
    pub stderr: String,
}

impl CheckRun {
    /// Status per check id.
    pub fn statuses(&self) -> BTreeMap<String, String> {
        self.report["checks"]
            .as_array()
            .expect("checks[]")
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_string(),
                    c["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// The ids with this status.
    pub fn with_status(&self, status: &str) -> Vec<String> {
        self.statuses()
            .into_iter()
            .filter(|(_, s)| s == status)
            .map(|(id, _)| id)
            .collect()
    }

    /// One check's JSON.
    pub fn check(&self, id: &str) -> &serde_json::Value {
        self.report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no check {id} in {}", self.report))
    }
}

/// Runs `lsprobe check --env-file FILE --format json ARGS...` with an empty environment.
pub fn check(env_file: &Path, args: &[&str]) -> CheckRun {
    check_with_env(env_file, args, &[])
}

/// [`check`] with these variables in its (otherwise empty) environment.
pub fn check_with_env(env_file: &Path, args: &[&str], vars: &[(&str, &str)]) -> CheckRun {
    let out = assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .env_clear()
        .envs(vars.iter().copied())
        .args(["check", "--format", "json", "--env-file"])
        .arg(env_file)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not a JSON report ({e}):\n{}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    validate_schema(&report);
    CheckRun {
        code: out.status.code().unwrap_or(-1),
        report,
        stderr,
    }
}

/// Validates a report against the committed schema.
pub fn validate_schema(report: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match reports/report.schema.json: {errors:?}\n{report}"
    );
}

/// Writes an env.list from `base` with some variables replaced or added (value `None` removes).
pub fn edited_env_file(
    base: &Path,
    changes: &[(&str, Option<&str>)],
    name: &str,
) -> std::path::PathBuf {
    let text = std::fs::read_to_string(base).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !changes.iter().any(|(k, _)| l.starts_with(&format!("{k}="))))
        .map(str::to_string)
        .collect();
    for (k, v) in changes {
        if let Some(v) = v {
            lines.push(format!("{k}={v}"));
        }
    }
    let path = base.with_file_name(name);
    let tmp = base.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, lines.join("\n") + "\n").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}
