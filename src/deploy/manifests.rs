//! The manifests, built as JSON values and written as YAML by [`super::yaml`]: every pod runs
//! the runtime image (docker/Dockerfile: entrypoint `lsprobe`, user 65532) under the Label
//! Studio app's service account, with the release's values file and existing secrets mounted
//! read-only where `--values` and `--secret-dir` read them, a read-only root filesystem and
//! emptyDirs for the little it writes.
use serde_json::{Map, Value, json};

use super::release::Release;

/// Where the values file is mounted in the pod.
pub const VALUES_FILE: &str = "/etc/lsprobe/values/ls-values.yaml";
/// Where the existing secrets are mounted: `SECRET_DIR/<secret>/<key>`, as `--secret-dir` reads.
pub const SECRET_DIR: &str = "/etc/lsprobe/secrets";
/// Where reports are written.
pub const REPORTS: &str = "/reports";
/// The image's non-root user (docker/Dockerfile).
pub const USER: u32 = 65532;

/// What every manifest shares.
#[derive(Debug, Clone)]
pub struct Common {
    /// The release the manifests reuse.
    pub release: Release,
    /// The text of its values file.
    pub values_text: String,
    /// The lsprobe image, e.g. `ghcr.io/OWNER/lsprobe:0.1.0`.
    pub image: String,
    /// The namespace of the release, when given (else kubectl's current one).
    pub namespace: Option<String>,
}

impl Common {
    fn name(&self, suffix: &str) -> String {
        format!("{}-lsprobe-{suffix}", self.release.name)
    }

    fn metadata(&self, name: &str, component: &str) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(name));
        if let Some(ns) = &self.namespace {
            m.insert("namespace".into(), json!(ns));
        }
        m.insert("labels".into(), self.labels(component));
        Value::Object(m)
    }

    fn labels(&self, component: &str) -> Value {
        json!({
            "app.kubernetes.io/name": "lsprobe",
            "app.kubernetes.io/instance": self.release.name,
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": "label-studio",
        })
    }

    /// The values file as a ConfigMap, or as a Secret when it holds credentials inline.
    pub fn values_object(&self) -> Value {
        let name = self.name("values");
        let data = json!({"ls-values.yaml": self.values_text});
        if self.release.inline_credentials.is_empty() {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": self.metadata(&name, "values"), "data": data})
        } else {
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": self.metadata(&name, "values"), "stringData": data})
        }
    }

    /// The target flags every lsprobe command in a pod gets.
    pub fn target_args(&self) -> Vec<String> {
        let mut args = vec!["--values".to_string(), VALUES_FILE.to_string()];
        if !self.release.secrets.is_empty() {
            args.extend(["--secret-dir".to_string(), SECRET_DIR.to_string()]);
        }
        args
    }

    fn pod_spec(
        &self,
        args: Vec<String>,
        reports: Option<Value>,
        component: &str,
    ) -> Map<String, Value> {
        let r = &self.release;
        // The merge reads reports only: no values, no secrets.
        let reads_bucket = component != "merge";
        let mut env = vec![
            json!({"name": "HOME", "value": "/tmp"}),
            json!({"name": "NO_COLOR", "value": "1"}),
        ];
        if let Some(host) = r.label_studio_host.as_ref().filter(|_| reads_bucket) {
            env.push(json!({"name": "LABEL_STUDIO_HOST", "value": host}));
        }
        for (var, value) in r.env_values.iter().filter(|_| reads_bucket) {
            env.push(json!({"name": var, "value": value}));
        }
        for (var, (secret, key)) in r.env_from_secrets.iter().filter(|_| reads_bucket) {
            env.push(json!({"name": var,
                "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}));
        }
        if component == "load" {
            // What the Job controller adds to an Indexed Job's containers, declared here so
            // that `$(JOB_COMPLETION_INDEX)` in the args expands on every Kubernetes version.
            env.push(
                json!({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}),
            );
        }
        let values_source = if r.inline_credentials.is_empty() {
            json!({"configMap": {"name": self.name("values")}})
        } else {
            json!({"secret": {"secretName": self.name("values")}})
        };
        let mut volumes = Vec::new();
        let mut mounts = Vec::new();
        if reads_bucket {
            volumes.push(merge(json!({"name": "values"}), values_source));
            mounts.push(
                json!({"name": "values", "mountPath": "/etc/lsprobe/values", "readOnly": true}),
            );
        }
        for (i, (secret, keys)) in r.secrets.iter().filter(|_| reads_bucket).enumerate() {
            let volume = format!("secret-{i}");
            let items: Vec<Value> = keys.iter().map(|k| json!({"key": k, "path": k})).collect();
            volumes.push(json!({"name": volume,
                "secret": {"secretName": secret, "items": items}}));
            mounts.push(
                json!({"name": volume, "mountPath": format!("{SECRET_DIR}/{secret}"),
                "readOnly": true}),
            );
        }
        volumes.push(json!({"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}));
        mounts.push(json!({"name": "tmp", "mountPath": "/tmp"}));
        if let Some(reports) = reports {
            volumes.push(merge(json!({"name": "reports"}), reports));
            mounts.push(json!({"name": "reports", "mountPath": REPORTS}));
        }
        let resources = if component == "load" {
            json!({"requests": {"cpu": "1", "memory": "256Mi"}, "limits": {"memory": "1Gi"}})
        } else {
            json!({"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}})
        };
        let container = json!({
            "name": "lsprobe",
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "args": args,
            "env": env,
            "resources": resources,
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "capabilities": {"drop": ["ALL"]},
            },
            "volumeMounts": mounts,
        });
        let mut spec = Map::new();
        if reads_bucket {
            spec.insert("serviceAccountName".into(), json!(r.service_account));
        }
        spec.insert("restartPolicy".into(), json!("Never"));
        spec.insert(
            "securityContext".into(),
            json!({"runAsNonRoot": true, "runAsUser": USER, "runAsGroup": USER,
                   "fsGroup": USER, "seccompProfile": {"type": "RuntimeDefault"}}),
        );
        if component == "load" {
            // Scale-out needs the copies on different nodes where there are some.
            spec.insert(
                "topologySpreadConstraints".into(),
                json!([{
                "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": self.labels(component)}}]),
            );
        }
        spec.insert("containers".into(), json!([container]));
        spec.insert("volumes".into(), Value::Array(volumes));
        spec
    }

    /// `lsprobe check` in a pod: `log_format` on stdout (the pod log, read by `kubectl logs`
    /// after the pod ended), nothing written but its HOME (`/tmp`, an emptyDir).
    fn check_template(&self, check_args: &[String], log_format: &str, component: &str) -> Value {
        let mut args = vec!["check".to_string()];
        args.extend(self.target_args());
        args.extend(check_args.iter().cloned());
        args.extend(["--format".to_string(), log_format.to_string()]);
        json!({"metadata": {"labels": self.labels(component)},
               "spec": self.pod_spec(args, None, component)})
    }

    fn job_spec(&self, template: Value) -> Value {
        json!({"backoffLimit": 0, "activeDeadlineSeconds": 1800,
               "ttlSecondsAfterFinished": 86400, "template": template})
    }

    /// The smoke test as a Job: its status is lsprobe's exit code (backoffLimit 0).
    pub fn smoke_job(&self, check_args: &[String], log_format: &str) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": self.metadata(&self.name("smoke"), "smoke"),
               "spec": self.job_spec(self.check_template(check_args, log_format, "smoke"))})
    }

    /// The smoke test as a Helm test hook (a Pod: `helm test` reports its exit code).
    pub fn helm_test(&self, check_args: &[String], log_format: &str) -> Value {
        let template = self.check_template(check_args, log_format, "helm-test");
        let mut metadata = self.metadata(&self.name("test"), "helm-test");
        metadata["annotations"] = json!({
            "helm.sh/hook": "test",
            "helm.sh/hook-delete-policy": "before-hook-creation",
        });
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
               "spec": template["spec"]})
    }

    /// The smoke test every night (or on `schedule`), one run at a time.
    pub fn cronjob(&self, schedule: &str, check_args: &[String], log_format: &str) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "CronJob",
               "metadata": self.metadata(&self.name("nightly"), "nightly"),
               "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid",
                        "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
                        "jobTemplate": {"metadata": {"labels": self.labels("nightly")},
                            "spec": self.job_spec(
                                self.check_template(check_args, log_format, "nightly"))}}})
    }

    /// A claim the load copies and the merge share.
    pub fn reports_claim(&self, storage_class: Option<&str>, size: &str) -> Value {
        let mut spec = json!({"accessModes": ["ReadWriteMany"],
                              "resources": {"requests": {"storage": size}}});
        if let Some(class) = storage_class {
            spec["storageClassName"] = json!(class);
        }
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": self.metadata(&self.name("reports"), "reports"), "spec": spec})
    }

    /// The path of copy `index`'s JSON report on the claim.
    pub fn shard_report(index: usize) -> String {
        format!("{REPORTS}/{index}/report.json")
    }

    /// `pods` copies of `lsprobe load` making one sharded run of the plan (`--shard I/N`:
    /// requests, objects and rate split among them), copy I writing `/reports/I/`.
    pub fn load_job(&self, pods: usize, load_args: &[String]) -> Value {
        let mut args = vec!["load".to_string()];
        args.extend(self.target_args());
        args.extend(load_args.iter().cloned());
        args.extend(
            [
                "--shard",
                &format!("$(JOB_COMPLETION_INDEX)/{pods}"),
                "--format",
                "json",
                "--report-dir",
                &format!("{REPORTS}/$(JOB_COMPLETION_INDEX)"),
            ]
            .map(String::from),
        );
        let claim = json!({"persistentVolumeClaim": {"claimName": self.name("reports")}});
        let template = json!({"metadata": {"labels": self.labels("load")},
                              "spec": self.pod_spec(args, Some(claim), "load")});
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": self.metadata(&self.name("load"), "load"),
               "spec": {"completionMode": "Indexed", "completions": pods, "parallelism": pods,
                        "backoffLimit": 0, "ttlSecondsAfterFinished": 86400,
                        "template": template}})
    }

    /// `lsprobe report merge` of the copies' reports, created suspended: resume it when the
    /// load Job is complete.
    pub fn merge_job(&self, pods: usize) -> Value {
        let mut args = vec!["report".to_string(), "merge".to_string()];
        args.extend((0..pods).map(Self::shard_report));
        args.extend(["-o".to_string(), format!("{REPORTS}/merged.json")]);
        let claim = json!({"persistentVolumeClaim": {"claimName": self.name("reports")}});
        let template = json!({"metadata": {"labels": self.labels("merge")},
                              "spec": self.pod_spec(args, Some(claim), "merge")});
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": self.metadata(&self.name("merge"), "merge"),
               "spec": {"suspend": true, "backoffLimit": 0, "ttlSecondsAfterFinished": 86400,
                        "template": template}})
    }
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}
