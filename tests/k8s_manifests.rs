//! `lsprobe k8s`: the manifests rendered from a Label Studio release's values (S3 IRSA, GCS
//! Workload Identity, Azure existing secrets) say what a user checks before `kubectl apply`
//! (service account, secrets mounted where `--secret-dir` reads them, args, non-root, read-only
//! root, Job semantics), pass the Kubernetes schemas (kubernetes-validate, installed by .ci/run),
//! and the pod's own command line, run with the ConfigMap and secrets laid out as Kubernetes
//! mounts them, passes against the S3 emulator, also inside the runtime image run as the pod
//! spec says (podman: read-only root, user 65532, the same mount paths, args verbatim); the
//! load copies' reports merge.
#[path = "support/runtime_image.rs"]
#[allow(dead_code)] // this test uses the image and podman, not the report helpers
mod image;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use lsprobe::emulators::{Kind, S3User};
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Value, json};

const IMAGE: &str = "ghcr.io/OWNER/lsprobe:0.1.0";

/// Existing secrets a pod mounts: (secret, keys).
type Mounted<'a> = &'a [(&'a str, &'a [&'a str])];

/// A release pointed at the emulator: (values file, its text, the secret's keys and values).
type EmulatorRelease = (PathBuf, String, Vec<(String, String)>);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `lsprobe k8s WHAT --values VALUES --release ls --image IMAGE EXTRA...`: (status, stdout, stderr).
fn k8s(what: &str, values: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(assert_cmd::cargo::cargo_bin("lsprobe"))
        .args(["k8s", what, "--release", "ls", "--image", IMAGE, "--values"])
        .arg(values)
        .args(extra)
        .output()
        .expect("run lsprobe");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn to_json(node: &Yaml<'_>) -> Value {
    match node {
        Yaml::Value(Scalar::String(s)) => json!(s.as_ref()),
        Yaml::Value(Scalar::Integer(i)) => json!(i),
        Yaml::Value(Scalar::Boolean(b)) => json!(b),
        Yaml::Value(Scalar::FloatingPoint(f)) => json!(f.into_inner()),
        Yaml::Value(Scalar::Null) => Value::Null,
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().expect("string keys").to_string(), to_json(v)))
                .collect(),
        ),
        other => panic!("unexpected YAML node {other:?}"),
    }
}

/// Renders and parses the documents (as Kubernetes would read them).
fn rendered(what: &str, values: &Path, extra: &[&str]) -> (String, Vec<Value>) {
    let (code, text, err) = k8s(what, values, extra);
    assert_eq!(code, 0, "lsprobe k8s {what}: {err}");
    let docs = Yaml::load_from_str(&text).expect("the output is YAML");
    (text, docs.iter().map(to_json).collect())
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().expect("a string")).collect())
        .unwrap_or_default()
}

/// What every pod that reads the bucket must be, whatever the manifest.
fn assert_pod(spec: &Value, values_text: &str, secrets: Mounted) {
    assert_eq!(spec["serviceAccountName"], "ls-ls-app", "Label Studio's SA");
    assert_eq!(spec["restartPolicy"], "Never");
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert_eq!(spec["securityContext"]["runAsUser"], 65532);
    let c = &spec["containers"][0];
    assert_eq!(c["image"], IMAGE);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    let args = strs(&c["args"]);
    let at = |flag: &str| args.iter().position(|a| *a == flag).map(|i| args[i + 1]);
    assert_eq!(at("--values"), Some("/etc/lsprobe/values/ls-values.yaml"));
    let volumes = spec["volumes"].as_array().unwrap();
    let mounts = c["volumeMounts"].as_array().unwrap();
    let mount_of = |volume: &str| {
        mounts
            .iter()
            .find(|m| m["name"] == volume)
            .unwrap_or_else(|| panic!("{volume} is mounted"))
    };
    assert_eq!(mount_of("values")["mountPath"], "/etc/lsprobe/values");
    let values_volume = volumes.iter().find(|v| v["name"] == "values").unwrap();
    assert_eq!(values_volume["configMap"]["name"], "ls-lsprobe-values");
    assert!(values_text.starts_with("global:"), "{values_text}");
    if secrets.is_empty() {
        assert_eq!(at("--secret-dir"), None, "{args:?}");
    } else {
        assert_eq!(at("--secret-dir"), Some("/etc/lsprobe/secrets"));
    }
    for (secret, keys) in secrets {
        let v = volumes
            .iter()
            .find(|v| v["secret"]["secretName"] == *secret)
            .unwrap_or_else(|| panic!("secret {secret} is a volume: {volumes:?}"));
        let items: Vec<&str> = v["secret"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                assert_eq!(i["key"], i["path"], "one file per key, named after it");
                i["key"].as_str().unwrap()
            })
            .collect();
        assert_eq!(&items, keys);
        let m = mount_of(v["name"].as_str().unwrap());
        assert_eq!(m["mountPath"], format!("/etc/lsprobe/secrets/{secret}"));
        assert_eq!(m["readOnly"], true);
    }
    let secret_volumes = volumes.iter().filter(|v| v.get("secret").is_some()).count();
    assert_eq!(secret_volumes, secrets.len(), "no other secret is mounted");
}

/// Runs kubernetes-validate (strict: unknown fields fail) on `text`.
fn validate(text: &str, label: &str) {
    let home = std::env::var_os("LSPROBE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/lsprobe"));
    let validator = home.join("venv/validators/bin/kubernetes-validate");
    if !validator.exists() {
        support::emulators::skip_or_fail(&format!(
            "{} is missing (installed by .ci/run)",
            validator.display()
        ));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{label}.yaml"));
    std::fs::write(&file, text).unwrap();
    let out = Command::new(&validator)
        .arg("--strict")
        .arg(&file)
        .output()
        .expect("run kubernetes-validate");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{label}: {log}");
    assert!(!log.contains("ERROR"), "{label}: {log}");
}

#[test]
fn s3_irsa_gcs_workload_identity_and_azure_secrets_render_valid_manifests() {
    let cases: [(&str, Mounted); 3] = [
        ("s3-irsa.values.yaml", &[]),
        ("gcs-workload-identity.values.yaml", &[]),
        (
            "azure-existing-secret.values.yaml",
            &[("ls-azure", &["storageaccountname", "storageaccountkey"])],
        ),
    ];
    for (file, secrets) in cases {
        let values = fixture(file);
        let values_text = std::fs::read_to_string(&values).unwrap();
        for what in ["job", "helm-test", "cronjob", "load"] {
            let label = format!("{file} {what}");
            let (text, docs) = rendered(what, &values, &["--pods", "3"]);
            validate(&text, &label.replace(' ', "-"));
            // The release's values, byte for byte, where --values reads them.
            let cm = kind(&docs, "ConfigMap");
            assert_eq!(cm.len(), 1, "{label}");
            assert_eq!(
                cm[0]["data"]["ls-values.yaml"],
                values_text.as_str(),
                "{label}"
            );
            let pods: Vec<&Value> = match what {
                "job" => {
                    let job = kind(&docs, "Job")[0];
                    assert_eq!(job["spec"]["backoffLimit"], 0, "{label}");
                    vec![&job["spec"]["template"]["spec"]]
                }
                "helm-test" => {
                    let pod = kind(&docs, "Pod")[0];
                    assert_eq!(pod["metadata"]["annotations"]["helm.sh/hook"], "test");
                    vec![&pod["spec"]]
                }
                "cronjob" => {
                    let cron = kind(&docs, "CronJob")[0];
                    assert_eq!(cron["spec"]["schedule"], "0 3 * * *");
                    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
                    let job = &cron["spec"]["jobTemplate"]["spec"];
                    assert_eq!(job["backoffLimit"], 0);
                    vec![&job["template"]["spec"]]
                }
                _ => {
                    let jobs = kind(&docs, "Job");
                    let load = jobs
                        .iter()
                        .find(|j| j["metadata"]["name"] == "ls-lsprobe-load");
                    let load = load.expect("the load Job");
                    assert_eq!(load["spec"]["completionMode"], "Indexed");
                    assert_eq!(load["spec"]["completions"], 3);
                    assert_eq!(load["spec"]["parallelism"], 3);
                    let merge = jobs
                        .iter()
                        .find(|j| j["metadata"]["name"] == "ls-lsprobe-merge");
                    let merge = merge.expect("the merge Job");
                    assert_eq!(merge["spec"]["suspend"], true, "runs when resumed");
                    let margs = strs(&merge["spec"]["template"]["spec"]["containers"][0]["args"]);
                    assert_eq!(
                        margs,
                        [
                            "report",
                            "merge",
                            "/reports/0/report.json",
                            "/reports/1/report.json",
                            "/reports/2/report.json",
                            "-o",
                            "/reports/merged.json"
                        ]
                    );
                    let c = &load["spec"]["template"]["spec"]["containers"][0];
                    let index = c["env"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|e| e["name"] == "JOB_COMPLETION_INDEX")
                        .expect("the completion index in the env");
                    assert_eq!(
                        index["valueFrom"]["fieldRef"]["fieldPath"],
                        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
                    );
                    let args = strs(&c["args"]);
                    assert!(
                        args.windows(2)
                            .any(|w| w == ["--report-dir", "/reports/$(JOB_COMPLETION_INDEX)"]),
                        "{args:?}"
                    );
                    assert!(
                        args.windows(2)
                            .any(|w| w == ["--shard", "$(JOB_COMPLETION_INDEX)/3"]),
                        "copy I of 3 of one run: {args:?}"
                    );
                    let claim = kind(&docs, "PersistentVolumeClaim")[0];
                    assert_eq!(claim["spec"]["accessModes"][0], "ReadWriteMany");
                    vec![&load["spec"]["template"]["spec"]]
                }
            };
            for spec in pods {
                assert_pod(spec, &values_text, secrets);
                let args = strs(&spec["containers"][0]["args"]);
                let command = if what == "load" { "load" } else { "check" };
                assert_eq!(args[0], command, "{label}");
                if what != "load" {
                    // JUnit in the pod log: what `kubectl logs` and `helm test --logs` show.
                    assert_eq!(&args[args.len() - 2..], ["--format", "junit"], "{label}");
                }
            }
        }
    }
}

#[test]
fn bad_input_is_exit_2_naming_it() {
    let s3 = fixture("s3-irsa.values.yaml");
    for (what, values, extra, needle) in [
        (
            "job",
            s3.clone(),
            vec!["--", "--suite", "no-such-suite", "--bogus"],
            "--bogus",
        ),
        (
            "job",
            s3.clone(),
            vec!["--", "--format", "json"],
            "--format",
        ),
        ("load", s3.clone(), vec!["--pods", "0"], "--pods 0"),
        (
            "load",
            s3.clone(),
            vec!["--pods", "4", "--", "--requests", "3"],
            "--requests 3",
        ),
        ("load", s3.clone(), vec!["--", "--shard", "0/2"], "--shard"),
        (
            "cronjob",
            s3.clone(),
            vec!["--schedule", "nightly"],
            "--schedule",
        ),
        (
            "job",
            s3.clone(),
            vec!["--namespace", "Bad_NS"],
            "--namespace",
        ),
        ("job", fixture("nope.yaml"), vec![], "nope.yaml"),
        (
            "job",
            fixture("gcs-sa.json"),
            vec![],
            "global.persistence.enabled",
        ),
    ] {
        let (code, out, err) = k8s(what, &values, &extra);
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert!(out.is_empty(), "nothing rendered: {out}");
        assert!(err.contains(needle), "{extra:?} names {needle}: {err}");
    }
}

#[test]
fn inline_credentials_make_the_values_a_secret() {
    let (_, docs) = rendered("job", &fixture("azure-key.values.yaml"), &[]);
    assert!(kind(&docs, "ConfigMap").is_empty());
    let secret = kind(&docs, "Secret")[0];
    assert!(secret["stringData"]["ls-values.yaml"].is_string());
    let spec = &kind(&docs, "Job")[0]["spec"]["template"]["spec"];
    let values = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "values")
        .unwrap();
    assert_eq!(values["secret"]["secretName"], "ls-lsprobe-values");
}

/// Lays out a pod's mounts under `root` as Kubernetes would (the values object's key as a file,
/// each secret item as `<mountPath>/<path>`) and returns its args and env with paths moved
/// under `root`, `$(VAR)` expanded from the env as the kubelet does.
fn as_kubelet(
    spec: &Value,
    values_text: &str,
    secrets: &[(&str, &str, &str)],
    root: &Path,
    shard: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let c = &spec["containers"][0];
    let moved = |p: &str| root.join(p.trim_start_matches('/'));
    for m in c["volumeMounts"].as_array().unwrap() {
        let dir = moved(m["mountPath"].as_str().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        let volume = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap();
        if volume.get("configMap").is_some() {
            std::fs::write(dir.join("ls-values.yaml"), values_text).unwrap();
        }
        if let Some(items) = volume["secret"]["items"].as_array() {
            let name = volume["secret"]["secretName"].as_str().unwrap();
            for item in items {
                let key = item["key"].as_str().unwrap();
                let (_, _, value) = secrets
                    .iter()
                    .find(|(s, k, _)| *s == name && *k == key)
                    .unwrap_or_else(|| panic!("secret {name} has key {key}"));
                std::fs::write(dir.join(item["path"].as_str().unwrap()), value).unwrap();
            }
        }
    }
    let mut env: Vec<(String, String)> = Vec::new();
    for e in c["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap().to_string();
        let value = match e["value"].as_str() {
            Some(v) if v.starts_with('/') => moved(v).display().to_string(),
            Some(v) => v.to_string(),
            None => shard.to_string(), // the completion-index annotation
        };
        env.push((name, value));
    }
    let args = strs(&c["args"])
        .into_iter()
        .map(|a| {
            let mut a = a.to_string();
            for (k, v) in &env {
                a = a.replace(&format!("$({k})"), v);
            }
            if a.starts_with("/etc/lsprobe") || a.starts_with("/reports") {
                moved(&a).display().to_string()
            } else {
                a
            }
        })
        .collect();
    (args, env)
}

fn run_pod(args: &[String], env: &[(String, String)]) -> (i32, String, String) {
    let out = Command::new(assert_cmd::cargo::cargo_bin("lsprobe"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run lsprobe");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A release whose S3 keys live in an existing secret, pointed at the S3 emulator.
fn emulator_release(dir: &Path) -> Option<EmulatorRelease> {
    let env_file = support::emulators::env_file(Kind::S3, S3User::Full)?;
    let pairs: Vec<(String, String)> = std::fs::read_to_string(env_file)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let text = format!(
        "global:\n  persistence:\n    enabled: true\n    type: s3\n    config:\n      s3:\n        \
         accessKeyExistingSecret: ls-s3\n        accessKeyExistingSecretKey: accesskey\n        \
         secretKeyExistingSecret: ls-s3\n        secretKeyExistingSecretKey: secretkey\n        \
         bucket: \"{}\"\n        region: \"{}\"\n        endpointUrl: \"{}\"\n        folder: \"{}\"\n",
        get("STORAGE_AWS_BUCKET_NAME"),
        get("STORAGE_AWS_REGION_NAME"),
        get("STORAGE_AWS_ENDPOINT_URL"),
        get("STORAGE_AWS_FOLDER"),
    );
    let path = dir.join("ls-values.yaml");
    std::fs::write(&path, &text).unwrap();
    let secrets = vec![
        ("accesskey".to_string(), get("STORAGE_AWS_ACCESS_KEY_ID")),
        (
            "secretkey".to_string(),
            get("STORAGE_AWS_SECRET_ACCESS_KEY"),
        ),
    ];
    Some((path, text, secrets))
}

#[test]
fn the_smoke_jobs_command_passes_against_the_emulator_with_the_secrets_mounted() {
    let dir = tempfile::tempdir().unwrap();
    let Some((values, text, keys)) = emulator_release(dir.path()) else {
        return;
    };
    let secrets: Vec<(&str, &str, &str)> = keys
        .iter()
        .map(|(k, v)| ("ls-s3", k.as_str(), v.as_str()))
        .collect();
    let (_, docs) = rendered("job", &values, &["--", "--suite", "smoke"]);
    let spec = &kind(&docs, "Job")[0]["spec"]["template"]["spec"];
    assert_pod(spec, &text, &[("ls-s3", &["accesskey", "secretkey"])]);
    let (args, env) = as_kubelet(spec, &text, &secrets, &dir.path().join("pod"), "0");
    let (code, stdout, stderr) = run_pod(&args, &env);
    assert_eq!(code, 0, "the Job would fail: {stdout}\n{stderr}");
    // The pod log is the JUnit report: every smoke check a testcase, none failed.
    assert!(stdout.starts_with("<?xml"), "{stdout}");
    for id in ["permissions.put", "permissions.get", "folder.isolation"] {
        assert!(stdout.contains(&format!("name=\"{id}\"")), "{id}: {stdout}");
    }
    assert!(!stdout.contains("<failure"), "{stdout}");
    for (_, secret) in &keys {
        assert!(!stdout.contains(secret.as_str()) && !stderr.contains(secret.as_str()));
    }
}

#[test]
fn the_load_copies_write_their_reports_and_the_merge_job_merges_them() {
    let dir = tempfile::tempdir().unwrap();
    let Some((values, text, keys)) = emulator_release(dir.path()) else {
        return;
    };
    let secrets: Vec<(&str, &str, &str)> = keys
        .iter()
        .map(|(k, v)| ("ls-s3", k.as_str(), v.as_str()))
        .collect();
    let extra = [
        "--pods",
        "2",
        "--",
        "--requests",
        "30",
        "--concurrency",
        "2",
        "--objects",
        "4",
        "--warmup",
        "0s",
    ];
    let (_, docs) = rendered("load", &values, &extra);
    let jobs = kind(&docs, "Job");
    let root = dir.path().join("cluster");
    let mut total = 0;
    for index in ["0", "1"] {
        let spec = &jobs[0]["spec"]["template"]["spec"];
        let (args, env) = as_kubelet(spec, &text, &secrets, &root, index);
        let (code, stdout, stderr) = run_pod(&args, &env);
        assert!(code == 0 || code == 1, "copy {index}: {stdout}\n{stderr}");
        let report: Value = serde_json::from_slice(
            &std::fs::read(root.join(format!("reports/{index}/report.json"))).unwrap(),
        )
        .unwrap();
        total += report["load"]["ops"]
            .as_object()
            .unwrap()
            .values()
            .map(|o| o["count"].as_u64().unwrap())
            .sum::<u64>();
    }
    let spec = &jobs[1]["spec"]["template"]["spec"];
    assert!(
        spec.get("serviceAccountName").is_none(),
        "the merge needs no cloud identity"
    );
    let (args, env) = as_kubelet(spec, &text, &secrets, &root, "");
    let (code, stdout, stderr) = run_pod(&args, &env);
    assert!(code == 0 || code == 1, "merge: {stdout}\n{stderr}");
    let merged: Value =
        serde_json::from_slice(&std::fs::read(root.join("reports/merged.json")).unwrap()).unwrap();
    let merged_total: u64 = merged["load"]["ops"]
        .as_object()
        .unwrap()
        .values()
        .map(|o| o["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        merged_total, total,
        "the merged report counts every copy's requests"
    );
    assert_eq!(
        merged_total, 30,
        "two shards of --requests 30 are one run of 30 requests"
    );
}

/// The examples under deploy/k8s/ are exactly what `lsprobe k8s` renders from the fixtures
/// (`LSPROBE_BLESS=1 cargo test --test k8s_manifests examples` rewrites them).
#[test]
fn the_examples_in_deploy_k8s_are_what_lsprobe_k8s_renders() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s");
    for (file, what, values, extra) in [
        ("job.s3-irsa.yaml", "job", "s3-irsa.values.yaml", &[][..]),
        (
            "helm-test.azure-existing-secret.yaml",
            "helm-test",
            "azure-existing-secret.values.yaml",
            &[][..],
        ),
        (
            "cronjob.gcs-workload-identity.yaml",
            "cronjob",
            "gcs-workload-identity.values.yaml",
            &["--", "--suite", "full"][..],
        ),
        (
            "load.s3-existing-secret.yaml",
            "load",
            "s3-existing-secret.values.yaml",
            &[
                "--pods",
                "4",
                "--",
                "--duration",
                "60s",
                "--concurrency",
                "16",
            ][..],
        ),
    ] {
        let mut args = vec!["--namespace", "label-studio"];
        args.extend(extra);
        let (code, text, err) = k8s(what, &fixture(values), &args);
        assert_eq!(code, 0, "{err}");
        let path = deploy.join(file);
        if std::env::var("LSPROBE_BLESS").is_ok_and(|v| v == "1") {
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{} differs from `lsprobe k8s {what}`; rerun with LSPROBE_BLESS=1",
            path.display()
        );
    }
}

/// The pod gets the environment the chart gives Label Studio's app pod that lsprobe does not
/// read from the values file: the ingress origin, app-level variables, variables from secrets.
#[test]
fn the_pod_has_the_label_studio_pods_environment() {
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("ls-values.yaml");
    let irsa = std::fs::read_to_string(fixture("s3-irsa.values.yaml")).unwrap();
    let text = irsa.replace(
        "global:\n",
        "global:\n  extraEnvironmentSecrets:\n    aws.sts.regional.endpoints:\n      secretName: ls-env\n      secretKey: sts\n    postgre.password:\n      secretName: db\n      secretKey: pw\n",
    );
    let text = text.replace(
        "app:\n  serviceAccount:",
        "app:\n  contextPath: /ls\n  ingress:\n    enabled: true\n    host: ls.example.com\n    tls:\n      - secretName: ls-tls\n  extraEnvironmentVars:\n    AWS_REGION: us-east-2\n    DEBUG: \"1\"\n  serviceAccount:",
    );
    std::fs::write(&values, &text).unwrap();
    let (yaml, docs) = rendered("job", &values, &[]);
    validate(&yaml, "environment");
    let env = &kind(&docs, "Job")[0]["spec"]["template"]["spec"]["containers"][0]["env"];
    let get = |name: &str| {
        env.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
    };
    assert_eq!(
        get("LABEL_STUDIO_HOST").unwrap()["value"],
        "https://ls.example.com/ls",
        "the CORS origin, as the chart derives it from the ingress"
    );
    assert_eq!(get("AWS_REGION").unwrap()["value"], "us-east-2");
    let sts = get("AWS_STS_REGIONAL_ENDPOINTS").expect("named as the chart names it");
    assert_eq!(sts["valueFrom"]["secretKeyRef"]["name"], "ls-env");
    assert_eq!(sts["valueFrom"]["secretKeyRef"]["key"], "sts");
    assert!(
        get("DEBUG").is_none() && get("POSTGRE_PASSWORD").is_none(),
        "only what lsprobe reads"
    );
}

/// The smoke Job's container as the pod spec describes it, run by podman from the runtime
/// image: the image's user (65532) and entrypoint, a read-only root filesystem with /tmp
/// writable, the ConfigMap and the secret's items mounted read-only at the manifest's paths, the
/// manifest's env, and its args verbatim (no path rewritten).
#[test]
fn the_smoke_jobs_container_passes_in_the_runtime_image() {
    let dir = image::config_dir();
    let Some((values, text, keys)) = emulator_release(dir.path()) else {
        return;
    };
    let Some(tag) = image::image() else {
        return;
    };
    let (_, docs) = rendered("job", &values, &[]);
    let spec = &kind(&docs, "Job")[0]["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    // The mounts, from the manifest: values at its mountPath, each secret item as a file.
    let values_dir = image::config_dir();
    std::fs::write(values_dir.path().join("ls-values.yaml"), &text).unwrap();
    let secret_dir = image::config_dir();
    let mut args: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "--network".into(),
        "host".into(),
    ];
    args.push("--read-only".into());
    let sc = &spec["securityContext"];
    args.extend([
        "--user".into(),
        format!("{}:{}", sc["runAsUser"], sc["runAsGroup"]),
    ]);
    for m in c["volumeMounts"].as_array().unwrap() {
        let path = m["mountPath"].as_str().unwrap();
        let volume = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap();
        let host = if volume.get("configMap").is_some() {
            values_dir.path().to_path_buf()
        } else if let Some(items) = volume["secret"]["items"].as_array() {
            for item in items {
                let key = item["key"].as_str().unwrap();
                let value = &keys.iter().find(|(k, _)| k == key).unwrap().1;
                let file = secret_dir.path().join(item["path"].as_str().unwrap());
                std::fs::write(&file, value).unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
            secret_dir.path().to_path_buf()
        } else {
            assert_eq!(
                path, "/tmp",
                "an emptyDir: podman's --read-only keeps /tmp writable"
            );
            continue;
        };
        assert_eq!(m["readOnly"], true, "{path}");
        args.extend(["-v".into(), format!("{}:{path}:ro", host.display())]);
    }
    for e in c["env"].as_array().unwrap() {
        let value = e["value"].as_str().expect("plain env in this Job");
        args.extend([
            "-e".into(),
            format!("{}={value}", e["name"].as_str().unwrap()),
        ]);
    }
    args.push(tag.to_string());
    args.extend(strs(&c["args"]).into_iter().map(String::from));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = image::podman(&argv);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the Job would fail: {stdout}\n{stderr}"
    );
    assert!(
        stdout.starts_with("<?xml"),
        "the pod log is JUnit: {stdout}"
    );
    assert!(stdout.contains("name=\"permissions.put\""), "{stdout}");
    assert!(!stdout.contains("<failure"), "{stdout}");
}
