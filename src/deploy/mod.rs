//! Kubernetes manifests that run lsprobe beside an installed Label Studio Helm release, rendered
//! from the release's own `ls-values.yaml` (`lsprobe k8s`): the smoke test as a Job, a Helm test
//! hook and a nightly CronJob, and a capacity run as an Indexed Job whose reports a second Job
//! merges. See docs/kubernetes.md.
pub mod manifests;
pub mod release;
pub mod yaml;

use serde_json::Value;

pub use manifests::Common;
pub use release::{Release, ReleaseError};

/// Which manifests to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manifest {
    /// The values object and the smoke-test Job.
    Job,
    /// The values object and a Pod annotated `helm.sh/hook: test`.
    HelmTest,
    /// The values object and a CronJob.
    CronJob,
    /// The values object, a reports claim, the Indexed Job and the (suspended) merge Job.
    Load,
}

/// Everything [`render`] needs besides the release.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Which manifests.
    pub manifest: Manifest,
    /// Extra `lsprobe check` / `lsprobe load` arguments (e.g. `--suite full`).
    pub extra_args: Vec<String>,
    /// The report format a check prints in the pod log: text, json, junit or markdown.
    pub log_format: String,
    /// CronJob schedule.
    pub schedule: String,
    /// Copies of `lsprobe load`.
    pub pods: usize,
    /// The storage class of the reports claim (default: the cluster's).
    pub storage_class: Option<String>,
    /// The size of the reports claim.
    pub claim_size: String,
}

/// The manifests as one multi-document YAML text, and notes for the person rendering them.
pub fn render(
    common: &Common,
    options: &RenderOptions,
) -> Result<(String, Vec<String>), ReleaseError> {
    let mut notes = Vec::new();
    if !common.release.inline_credentials.is_empty() {
        notes.push(format!(
            "the values file holds credentials or other secrets inline ({}): it is rendered as a \
             Secret, not a ConfigMap; better, move them to existing secrets (...ExistingSecret, \
             extraEnvironmentSecrets) as the chart allows",
            common.release.inline_credentials.join(", ")
        ));
    }
    if !common.release.overridden.is_empty() {
        notes.push(format!(
            "{} set storage variables for the Label Studio app only, where they override \
             global.persistence; lsprobe reads global.persistence from the values file first, \
             so it checks what global.persistence says: move the setting there",
            common.release.overridden.join(", ")
        ));
    }
    if options.manifest == Manifest::HelmTest && common.values_text.contains("{{") {
        notes.push(
            "the values file contains `{{`: Helm renders chart templates, so escape it \
             (`{{ \"{{\" }}`) before putting this file in a chart"
                .to_string(),
        );
    }
    if common.release.secrets.is_empty()
        && common.release.inline_credentials.is_empty()
        && common.release.keyless.is_none()
    {
        notes.push(format!(
            "no keys and no IRSA / Workload Identity annotation in the values: the pods use what \
             service account `{}` and the node give them, as Label Studio's pods do",
            common.release.service_account
        ));
    }
    let name_limit = |suffix: &str, limit: usize| {
        let name = format!("{}-lsprobe-{suffix}", common.release.name);
        if name.len() > limit {
            Err(ReleaseError(format!(
                "the name `{name}` is longer than Kubernetes allows ({limit}); use a shorter \
                 release name"
            )))
        } else {
            Ok(())
        }
    };
    let args = &options.extra_args;
    let mut docs: Vec<Value> = vec![common.values_object()];
    match options.manifest {
        Manifest::Job => docs.push(common.smoke_job(args, &options.log_format)),
        Manifest::HelmTest => docs.push(common.helm_test(args, &options.log_format)),
        Manifest::CronJob => {
            name_limit("nightly", 52)?;
            docs.push(common.cronjob(&options.schedule, args, &options.log_format));
        }
        Manifest::Load => {
            if options.pods == 0 || options.pods > 1000 {
                return Err(ReleaseError(format!(
                    "--pods {}: between 1 and 1000 copies",
                    options.pods
                )));
            }
            // Indexed Job pod names carry the index: keep the Job name short enough for them.
            name_limit("load", 56)?;
            docs.push(common.reports_claim(options.storage_class.as_deref(), &options.claim_size));
            docs.push(common.load_job(options.pods, args));
            docs.push(common.merge_job(options.pods));
        }
    }
    let mut header = format!(
        "# Rendered by `lsprobe k8s` {} from the values of Helm release `{}` ({} persistence).\n\
         # Label Studio's service account: {}\n",
        env!("CARGO_PKG_VERSION"),
        common.release.name,
        common.release.storage_type,
        common.release.service_account,
    );
    if let Some((k, v)) = &common.release.keyless {
        header.push_str(&format!("#   {k}: {v}\n"));
    }
    Ok((format!("{header}{}", yaml::documents(&docs)), notes))
}
