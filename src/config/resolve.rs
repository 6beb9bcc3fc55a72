//! Merging flags, a named file and the environment into a [`Target`], and validating it.
use std::path::Path;

use super::options::TargetOptions;
use super::target::*;
use super::vars::{self, Layer};
use super::{ConfigError, as_label_studio, credentials, env_list, environment, helm, parse};

/// Label Studio's default presigned-URL lifetime (24 h).
pub const DEFAULT_EXPIRY_SECS: u64 = 86_400;
/// Label Studio's default address, the origin of its pages when nothing else is configured.
pub const DEFAULT_ORIGIN: &str = "http://localhost:8080";

/// The resolved target and what the user should know about it.
#[derive(Debug)]
pub struct Resolved {
    /// The target.
    pub target: Target,
    /// Places where Label Studio would behave differently than the user may think.
    pub warnings: Vec<String>,
    /// Every variable read from a file or the environment (canonical name, source); no values.
    pub read: Vec<(String, Source)>,
}

/// The three sources, already read.
pub(super) struct Sources {
    pub(super) flags: TargetOptions,
    pub(super) file: Layer,
    pub(super) env: Layer,
}

impl Sources {
    /// The value of a canonical name as Label Studio sees it, empty or not: named file over
    /// environment (flags are applied by name).
    pub(super) fn pick_raw(&self, name: &str) -> Option<Sourced<String>> {
        self.file.get(name).or_else(|| self.env.get(name)).cloned()
    }

    /// The value of a canonical name, `None` when unset or empty (Label Studio's
    /// `if get_env(NAME):`, as for the keys and the object parameters).
    pub(super) fn pick(&self, name: &str) -> Option<Sourced<String>> {
        self.pick_raw(name).filter(|v| !v.value.is_empty())
    }
}

/// Variable names that differ per provider.
struct Names {
    bucket: &'static str,
    folder: &'static str,
    expiry: &'static str,
    endpoint: &'static str,
}

const S3: Names = Names {
    bucket: "STORAGE_AWS_BUCKET_NAME",
    folder: "STORAGE_AWS_FOLDER",
    expiry: "STORAGE_AWS_X_AMZ_EXPIRES",
    endpoint: "STORAGE_AWS_ENDPOINT_URL",
};
const GCS: Names = Names {
    bucket: "STORAGE_GCS_BUCKET_NAME",
    folder: "STORAGE_GCS_FOLDER",
    expiry: "STORAGE_GCS_EXPIRATION_SECS",
    endpoint: "STORAGE_GCS_ENDPOINT",
};
const AZURE: Names = Names {
    bucket: "STORAGE_AZURE_CONTAINER_NAME",
    folder: "STORAGE_AZURE_FOLDER",
    expiry: "STORAGE_AZURE_URL_EXPIRATION_SECS",
    endpoint: vars::AZURE_ENDPOINT,
};

/// Resolves the target from flags, the named file(s) and the given environment.
/// Sends no request.
pub fn resolve(args: &TargetOptions, env: &[(String, String)]) -> Result<Resolved, ConfigError> {
    let lookup = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut warnings = Vec::new();
    let mut file = Layer::default();
    let mut annotations = Vec::new();
    if let Some(path) = &args.env_file {
        let text = read_file(path, "--env-file")?;
        file = env_list::layer(&text, path, &lookup)?;
    }
    if let Some(path) = &args.values {
        let text = read_file(path, "--values")?;
        let values = helm::parse(&text, path, args.secret_dir.as_deref())?;
        warnings.extend(values.warnings);
        annotations = values.annotations;
        file = merge_files(file, values.layer)?;
    }
    let sources = Sources {
        flags: args.clone(),
        file,
        env: environment::layer(env),
    };
    for layer in [&sources.file, &sources.env] {
        for (name, source) in &layer.unknown {
            if !looks_like_a_name(name) {
                // Not echoed: `abc==` on its own line is more likely the tail of a wrapped
                // secret than a variable.
                warnings.push(format!(
                    "{} sets a variable that is not one Label Studio reads (its name, not \
                     shown, does not look like one: is it a value wrapped onto the next line?)",
                    source_place(source)
                ));
                continue;
            }
            let hint = vars::did_you_mean(name)
                .map(|k| format!("; did you mean {k}?"))
                .unwrap_or_default();
            warnings.push(format!(
                "{name} ({source}) is not a variable Label Studio reads, so it has no effect{hint}"
            ));
        }
    }
    let read = [&sources.file, &sources.env]
        .iter()
        .flat_map(|layer| {
            let known = layer
                .entries()
                .map(|(n, v)| (n.to_string(), v.source.clone()));
            known.chain(layer.unknown.iter().cloned())
        })
        .collect();
    let provider = provider(&sources)?;
    let names = match provider.value {
        Provider::S3 => &S3,
        Provider::Gcs => &GCS,
        Provider::Azure => &AZURE,
    };
    let flag = |value: &Option<String>, flag: &str| {
        value
            .as_ref()
            .map(|v| Sourced::new(v.clone(), Source::Flag { flag: flag.into() }))
    };
    let bucket = flag(&args.bucket, "--bucket")
        .or_else(|| sources.pick(names.bucket))
        .ok_or_else(|| {
            let what = if provider.value == Provider::Azure {
                "container"
            } else {
                "bucket"
            };
            ConfigError(format!(
                "no {what}: set {} (env.list or environment), the chart's `{}`, or pass --bucket",
                names.bucket,
                helm_key(provider.value, "bucket"),
            ))
        })?;
    if provider.value == Provider::S3 {
        as_label_studio::s3_bucket(&bucket)?;
    }
    let folder = match flag(&args.folder, "--folder").or_else(|| sources.pick_raw(names.folder)) {
        Some(f) => Sourced::new(
            as_label_studio::folder(&f, names.folder, provider.value)?,
            f.source,
        ),
        None => parse::default(String::new()),
    };
    // Label Studio hands an empty STORAGE_AWS_ENDPOINT_URL to botocore as it is; the GCS one
    // it tests for truth.
    let endpoint = flag(&args.endpoint, "--endpoint")
        .map(|e| (e, "--endpoint"))
        .or_else(|| match provider.value {
            Provider::S3 => sources
                .pick_raw(names.endpoint)
                .map(|e| (e, names.endpoint))
                .or_else(|| configured_s3_endpoint(&sources)),
            _ => sources.pick(names.endpoint).map(|e| (e, names.endpoint)),
        })
        .map(|(e, name)| {
            // (botocore's own variables are named as they are by parse::url below)
            if provider.value == Provider::S3 && !name.starts_with("AWS_") {
                as_label_studio::s3_endpoint(&e)?;
            }
            parse::url(&e, name).map(|u| Sourced::new(u, e.source))
        })
        .transpose()?;
    let url_expiry_secs = match sources.pick_raw(names.expiry) {
        Some(v) => Sourced::new(as_label_studio::expiry(&v, names.expiry)?, v.source),
        None => parse::default(DEFAULT_EXPIRY_SECS),
    };
    let region = match flag(&args.region, "--region")
        .or_else(|| sources.pick_raw("STORAGE_AWS_REGION_NAME"))
    {
        Some(r) if provider.value == Provider::S3 => {
            as_label_studio::region(&r)?.map(|value| Sourced::new(value, r.source))
        }
        other => other.filter(|r| !r.value.is_empty()),
    };
    if region.is_some() && provider.value != Provider::S3 {
        warnings.push("a region only applies to S3; it is ignored here".to_string());
    }
    let origins = origins(&sources, &mut warnings)?;
    let settings = match provider.value {
        Provider::S3 => ProviderSettings::S3(Box::new(credentials::s3(
            &sources,
            &annotations,
            lookup("HOME").map(std::path::PathBuf::from).as_deref(),
            endpoint.as_ref(),
            &mut warnings,
        )?)),
        Provider::Gcs => {
            ProviderSettings::Gcs(credentials::gcs(&sources, &annotations, &mut warnings)?)
        }
        Provider::Azure => ProviderSettings::Azure(credentials::azure(&sources, &mut warnings)?),
    };
    if provider.value == Provider::S3 && region.is_none() && endpoint.is_none() {
        warnings.push(
            "no STORAGE_AWS_REGION_NAME: boto3 then takes AWS_DEFAULT_REGION or us-east-1; \
             set it to the bucket's region"
                .to_string(),
        );
    }
    let is_s3 = provider.value == Provider::S3;
    let target = Target {
        provider,
        bucket,
        folder,
        endpoint,
        region: region.filter(|_| is_s3),
        url_expiry_secs,
        origins,
        settings,
    };
    super::header_value::validate(&target)?;
    let warnings = warnings
        .iter()
        .map(|w| crate::report::redact::text(w).into_owned())
        .collect();
    Ok(Resolved {
        target,
        warnings,
        read,
    })
}

/// The endpoint botocore takes when Label Studio passes none (no `STORAGE_AWS_ENDPOINT_URL`):
/// `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL` (empty ones skipped), unless
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true` (any case). botocore 1.44,
/// `ConfiguredEndpointProvider` and `ClientArgsCreator._compute_configured_endpoint_url`.
fn configured_s3_endpoint(sources: &Sources) -> Option<(Sourced<String>, &'static str)> {
    if ignores_configured_endpoints(sources) {
        return None;
    }
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .into_iter()
        .find_map(|name| sources.pick(name).map(|v| (v, name)))
}

/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`: botocore uses no configured endpoint URL (S3's,
/// STS's), only what the code passes.
pub(super) fn ignores_configured_endpoints(sources: &Sources) -> bool {
    sources
        .pick("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.value.eq_ignore_ascii_case("true"))
}

/// Conventional variable names (`STORAGE_AWS_FOLDER`, `HOST`, `http_proxy`): one case, with
/// letters, digits and `_`, at most 64 characters.
fn looks_like_a_name(name: &str) -> bool {
    let upper = name
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    let lower = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    name.len() <= 64 && (upper || lower)
}

/// Where a value was set, without the name it was set under.
fn source_place(source: &Source) -> String {
    match source {
        Source::EnvFile { path, line, .. } | Source::Values { path, line, .. } => {
            format!("{}:{line}", path.display())
        }
        Source::Environment { .. } => "the environment".into(),
        other => other.to_string(),
    }
}

fn read_file(path: &Path, flag: &str) -> Result<String, ConfigError> {
    super::limits::read_text(path, super::limits::MAX_CONFIG_BYTES).map_err(|e| {
        ConfigError(format!(
            "{flag} {}: cannot read the file ({e}); check the path and its permissions",
            path.display()
        ))
    })
}

/// Both --env-file and --values: they may agree, never contradict.
fn merge_files(mut env_file: Layer, values: Layer) -> Result<Layer, ConfigError> {
    for (name, v) in values.entries() {
        match env_file.get(name) {
            Some(e) if e.value != v.value => {
                return Err(ConfigError(format!(
                    "{name} is set differently in {} and {}; keep one of the two files or \
                     make them agree",
                    e.source, v.source
                )));
            }
            Some(_) => {}
            None => env_file.set(name, v.value.clone(), v.source.clone()),
        }
    }
    env_file.unknown.extend(values.unknown);
    Ok(env_file)
}

fn provider(sources: &Sources) -> Result<Sourced<Provider>, ConfigError> {
    let raw = match &sources.flags.storage_type {
        Some(t) => Sourced::new(
            t.clone(),
            Source::Flag {
                flag: "--type".into(),
            },
        ),
        None => {
            let raw = sources.pick("STORAGE_TYPE").ok_or_else(|| {
                ConfigError(
                    "no storage type: Label Studio then keeps uploads on its local disk. Set \
                     STORAGE_TYPE=s3|gcs|azure in env.list or the environment, \
                     global.persistence.type in ls-values.yaml, or pass --type"
                        .to_string(),
                )
            })?;
            // Label Studio compares the variable exactly (`volume` is the chart's own).
            if raw.value != "volume" {
                let provider = as_label_studio::storage_type(&raw)?;
                return Ok(Sourced::new(provider, raw.source));
            }
            raw
        }
    };
    let provider = match raw.value.trim().to_ascii_lowercase().as_str() {
        "s3" => Provider::S3,
        "gcs" => Provider::Gcs,
        "azure" => Provider::Azure,
        "volume" => {
            return Err(ConfigError(format!(
                "storage type `volume` ({}): Label Studio keeps uploads on a Kubernetes \
                 volume, not in a bucket, so there is nothing for lsprobe to check; use s3, \
                 gcs or azure",
                raw.source
            )));
        }
        other => {
            return Err(ConfigError(format!(
                "storage type `{other}` ({}) is not one Label Studio knows; use s3, gcs or azure",
                raw.source
            )));
        }
    };
    Ok(Sourced::new(provider, raw.source))
}

fn helm_key(provider: Provider, key: &str) -> String {
    let key = match (provider, key) {
        (Provider::Azure, "bucket") => "containerName",
        (_, k) => k,
    };
    format!("global.persistence.config.{provider}.{key}")
}

fn origins(
    sources: &Sources,
    warnings: &mut Vec<String>,
) -> Result<Vec<Sourced<String>>, ConfigError> {
    let given: Vec<Sourced<String>> = if sources.flags.origins.is_empty() {
        sources.pick("HOST").into_iter().collect()
    } else {
        let src = || Source::Flag {
            flag: "--origin".into(),
        };
        sources
            .flags
            .origins
            .iter()
            .map(|o| Sourced::new(o.clone(), src()))
            .collect()
    };
    if given.is_empty() {
        return Ok(vec![parse::default(DEFAULT_ORIGIN.to_string())]);
    }
    given
        .into_iter()
        .map(|o| {
            let (origin, note) = parse::origin(&o, "origin")?;
            warnings.extend(note);
            Ok(Sourced::new(origin, o.source))
        })
        .collect()
}
