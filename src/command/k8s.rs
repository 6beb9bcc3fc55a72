//! `lsprobe k8s`: read the release's values file, check the extra arguments as the pod's
//! lsprobe will parse them, render the manifests.
use clap::Parser as _;

use crate::cli::{Cli, K8sArgs, K8sManifest};
use crate::config::limits;
use crate::deploy::{self, Common, Manifest, Release, RenderOptions};
use crate::report::ReportFormat;
use crate::{Exit, RunError};

/// Flags the manifests set themselves: given again after `--` they would clash.
const SET_BY_MANIFEST: &[&str] = &[
    "--values",
    "--env-file",
    "--secret-dir",
    "--format",
    "--report-dir",
    "--shard",
];

/// Runs `lsprobe k8s`.
pub fn run(args: &K8sArgs) -> Result<Exit, RunError> {
    let text = limits::read_text(&args.values, limits::MAX_CONFIG_BYTES).map_err(|e| {
        RunError::BadInput(format!(
            "--values {}: {e}; give the values file the release was installed with",
            args.values.display()
        ))
    })?;
    let release = Release::read(&args.release, &text, &args.values)
        .map_err(|e| RunError::BadInput(e.to_string()))?;
    check_image(&args.image)?;
    if let Some(ns) = &args.namespace
        && !is_dns_label(ns)
    {
        return Err(RunError::BadInput(format!(
            "--namespace `{}`: not a Kubernetes namespace name",
            crate::config::parse::shorten(ns)
        )));
    }
    let manifest = match args.manifest {
        K8sManifest::Job => Manifest::Job,
        K8sManifest::HelmTest => Manifest::HelmTest,
        K8sManifest::Cronjob => Manifest::CronJob,
        K8sManifest::Load => Manifest::Load,
    };
    if args.log_format == ReportFormat::Html {
        return Err(RunError::BadInput(
            "--log-format html: a pod log is text; use text, json, junit or markdown".into(),
        ));
    }
    if args.schedule.split_whitespace().count() != 5 && !args.schedule.starts_with('@') {
        return Err(RunError::BadInput(format!(
            "--schedule `{}`: five cron fields (minute hour day month weekday), e.g. `0 3 * * *`",
            crate::config::parse::shorten(&args.schedule)
        )));
    }
    check_extra_args(manifest, &args.args)?;
    if manifest == Manifest::Load {
        check_split(&args.args, args.pods)?;
    }
    let common = Common {
        release,
        values_text: text,
        image: args.image.clone(),
        namespace: args.namespace.clone(),
    };
    let options = RenderOptions {
        manifest,
        extra_args: args.args.clone(),
        log_format: format_name(args.log_format).into(),
        schedule: args.schedule.clone(),
        pods: args.pods,
        storage_class: args.storage_class.clone(),
        claim_size: args.claim_size.clone(),
    };
    let (yaml, notes) =
        deploy::render(&common, &options).map_err(|e| RunError::BadInput(e.to_string()))?;
    for note in notes {
        eprintln!("note: {note}");
    }
    match &args.output {
        Some(path) => std::fs::write(path, yaml)
            .map_err(|e| RunError::BadInput(format!("-o {}: cannot write: {e}", path.display())))?,
        None => print!("{yaml}"),
    }
    Ok(Exit::Passed)
}

/// The arguments after `--` must be what the pod's `lsprobe check` / `load` accepts.
fn check_extra_args(manifest: Manifest, extra: &[String]) -> Result<(), RunError> {
    if let Some(flag) = extra.iter().find(|a| {
        SET_BY_MANIFEST
            .iter()
            .any(|f| a.as_str() == *f || a.starts_with(&format!("{f}=")))
    }) {
        return Err(RunError::BadInput(format!(
            "`{flag}` after `--`: the manifests set it themselves (values and secrets mounted, \
             the report format from --log-format)"
        )));
    }
    let command = if manifest == Manifest::Load {
        "load"
    } else {
        "check"
    };
    let line = ["lsprobe", command, "--values", "ls-values.yaml"]
        .into_iter()
        .map(String::from)
        .chain(extra.iter().cloned());
    Cli::try_parse_from(line).map(|_| ()).map_err(|e| {
        let first = e.to_string();
        let first = first
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        RunError::BadInput(format!(
            "the arguments after `--` are not valid for `lsprobe {command}`: {first}"
        ))
    })
}

/// A sharded run needs at least one request and one object per copy (lsprobe load refuses
/// less in every pod; say it here, before anything is applied).
fn check_split(extra: &[String], pods: usize) -> Result<(), RunError> {
    for flag in ["--requests", "--objects"] {
        let value = extra
            .iter()
            .position(|a| a == flag)
            .and_then(|i| extra.get(i + 1))
            .map(String::as_str)
            .or_else(|| {
                extra
                    .iter()
                    .find_map(|a| a.strip_prefix(flag).and_then(|v| v.strip_prefix('=')))
            });
        if let Some(n) = value.and_then(|v| v.parse::<u64>().ok())
            && n < pods as u64
        {
            return Err(RunError::BadInput(format!(
                "{flag} {n} after `--` with --pods {pods}: the copies split it, so each needs \
                 at least one; give {flag} {pods} or more, or fewer --pods"
            )));
        }
    }
    Ok(())
}

fn check_image(image: &str) -> Result<(), RunError> {
    let ok = !image.is_empty()
        && image.len() <= 512
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(RunError::BadInput(format!(
            "--image `{}`: not an image reference (e.g. ghcr.io/OWNER/lsprobe:0.1.0)",
            crate::config::parse::shorten(image)
        )))
    }
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn format_name(format: ReportFormat) -> &'static str {
    match format {
        ReportFormat::Text => "text",
        ReportFormat::Json => "json",
        ReportFormat::Junit => "junit",
        ReportFormat::Markdown => "markdown",
        ReportFormat::Html => "html",
    }
}
