//! The CI workflow examples (deploy/ci/) do what they say: every step that runs lsprobe is run
//! here as written, in bash, with this build's `lsprobe` first on PATH, against emulators the
//! workflow itself starts (`lsprobe emulators up`) in a state dir of this test. Steps that
//! install lsprobe or use other actions are not run. (.ci/run validates the files' schemas.)
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use saphyr::{LoadableYamlNode, Yaml};

fn workflow(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/ci")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// Stops the emulators a workflow started, even when an assertion fails first.
struct Workspace {
    dir: tempfile::TempDir,
    state: PathBuf,
}

impl Workspace {
    fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let state = support::emulators::test_state_dir(&format!(
            "ci-{}",
            dir.path().file_name().unwrap().to_string_lossy()
        ));
        Workspace { dir, state }
    }

    /// Runs one step's script as the CI runner would (`bash -eo pipefail`): (status, output).
    fn run(&self, script: &str, summary: &Path) -> (i32, String) {
        let bin = assert_cmd::cargo::cargo_bin("lsprobe");
        let path = format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("LSPROBE_STATE_DIR", &self.state)
            .env("GITHUB_STEP_SUMMARY", summary)
            .env("NO_COLOR", "1")
            .output()
            .expect("run bash");
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = Command::new(assert_cmd::cargo::cargo_bin("lsprobe"))
            .args(["emulators", "down"])
            .env("LSPROBE_STATE_DIR", &self.state)
            .output();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// The reports each workflow leaves: one directory per emulator with the full suite's JUnit.
fn assert_reports(ws: &Workspace) {
    for provider in ["s3", "gcs", "azure"] {
        let junit = std::fs::read_to_string(ws.path(&format!("reports/{provider}/junit.xml")))
            .unwrap_or_else(|e| panic!("reports/{provider}/junit.xml: {e}"));
        for id in ["permissions.put", "cors.preflight.PUT", "presign.get"] {
            assert!(junit.contains(&format!("name=\"{id}\"")), "{provider} {id}");
        }
        assert!(!junit.contains("<failure"), "{provider}: {junit}");
        assert!(ws.path(&format!("reports/{provider}/report.json")).exists());
    }
}

/// The Markdown summary has one section per emulator, each passed.
fn assert_summary(md: &str) {
    assert_eq!(
        md.matches("\n## lsprobe: ").count() + usize::from(md.starts_with("## lsprobe: ")),
        3,
        "{md}"
    );
    for provider in ["s3", "gcs", "azure"] {
        assert!(
            md.contains(&format!("## lsprobe: {provider} bucket")),
            "{provider}: {md}"
        );
    }
    assert_eq!(md.matches("✅ passed").count(), 3, "{md}");
}

/// Up fails only when the emulators cannot be installed or started here.
fn emulators_unavailable(step: &str, code: i32, log: &str) -> bool {
    if step.contains("emulators up") && code != 0 {
        support::emulators::skip_or_fail(&format!("`{step}` failed: {log}"));
        return true;
    }
    false
}

#[test]
fn the_github_and_gitlab_examples_run_against_the_emulators() {
    // GitHub Actions: the `run:` steps that call lsprobe, in order, `if: always()` ones too.
    let text = workflow("github-actions.yml");
    let docs = Yaml::load_from_str(&text).unwrap();
    let steps = docs[0]["jobs"]["emulators"]["steps"].as_sequence().unwrap();
    let ws = Workspace::new();
    let summary = ws.path("step-summary.md");
    let mut ran = Vec::new();
    for step in steps {
        let Some(script) = step.as_mapping_get("run").and_then(Yaml::as_str) else {
            continue;
        };
        if !script.contains("lsprobe ") || script.contains("cargo") {
            continue;
        }
        let (code, log) = ws.run(script, &summary);
        if emulators_unavailable(script, code, &log) {
            return;
        }
        assert_eq!(code, 0, "step `{script}`:\n{log}");
        ran.push(script.to_string());
    }
    assert_eq!(ran.len(), 4, "up, check, summary, down: {ran:?}");
    assert_reports(&ws);
    let md = std::fs::read_to_string(&summary).unwrap();
    assert_summary(&md);
    drop(ws);

    // GitLab CI: the job's script, line by line in one shell, as the runner does.
    let text = workflow("gitlab-ci.yml");
    let docs = Yaml::load_from_str(&text).unwrap();
    let job = &docs[0]["lsprobe-nightly"];
    let script: Vec<&str> = job["script"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let ws = Workspace::new();
    let (code, log) = ws.run(&script.join("\n"), &ws.path("unused"));
    if emulators_unavailable(script[0], code, &log) {
        return;
    }
    assert_eq!(code, 0, "{log}");
    assert_reports(&ws);
    let md = std::fs::read_to_string(ws.path("reports/summary.md")).unwrap();
    assert_summary(&md);
    let junit_glob = job["artifacts"]["reports"]["junit"].as_str().unwrap();
    assert_eq!(junit_glob, "reports/*/junit.xml");
}
