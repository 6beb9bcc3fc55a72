//! suites/capacity.toml: the load defaults and the verdict's profiles, as data.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::LoadPlan;
use super::schedule::{Bound, Mix, Mode, parse_size};
use super::verdict::VerdictConfig;

/// The capacity suite shipped with lsprobe.
pub const BUILTIN: &str = include_str!("../../suites/capacity.toml");

/// `[defaults]` of a capacity suite.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityDefaults {
    /// `closed` or `open`.
    pub mode: String,
    /// Requests per second (open loop).
    pub rate: Option<f64>,
    /// Workers (connections).
    pub concurrency: usize,
    /// Measured duration (`60s`), unless `requests` is given.
    pub duration: Option<String>,
    /// Measured requests.
    pub requests: Option<u64>,
    /// Excluded from the results.
    pub warmup: String,
    /// Size of the GET set.
    pub objects: usize,
    /// Per-request timeout.
    pub timeout: String,
    /// Page size of list operations.
    pub list_max_keys: u32,
    /// PUT keys per worker.
    pub put_slots: usize,
    /// Operation weights.
    pub mix: BTreeMap<String, u32>,
    /// Object size weights (`"4KiB" = 40`).
    pub sizes: BTreeMap<String, u32>,
    /// The longest wait after a throttled or failed request.
    #[serde(default)]
    pub backoff_max: Option<String>,
    /// Failed requests in a row that stop the run early (0: never).
    #[serde(default)]
    pub stop_after_failures: Option<u64>,
}

/// A parsed capacity suite.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacitySuite {
    /// Load defaults.
    pub defaults: CapacityDefaults,
    /// Verdict profiles.
    pub verdict: VerdictConfig,
}

impl CapacitySuite {
    /// The shipped suite.
    pub fn builtin() -> Self {
        Self::parse(BUILTIN, "suites/capacity.toml").expect("the shipped capacity suite parses")
    }

    /// Parses suite text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, String> {
        let s: CapacitySuite = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
        s.plan().map_err(|e| format!("{origin}: {e}"))?;
        for p in &s.verdict.profiles {
            if let Some(bad) = p
                .providers
                .iter()
                .find(|x| !matches!(x.as_str(), "s3" | "gcs" | "azure"))
            {
                return Err(format!(
                    "{origin}: profile `{}` names provider `{bad}`: use s3, gcs or azure",
                    p.class
                ));
            }
        }
        let v = &s.verdict;
        for (provider, class) in [(None, &v.required)]
            .into_iter()
            .chain(v.required_azure.iter().map(|c| (Some("azure"), c)))
            .chain(v.required_gcs.iter().map(|c| (Some("gcs"), c)))
        {
            let applies = |p: &&crate::load::verdict::Profile| {
                p.providers.is_empty()
                    || provider.is_some_and(|x| p.providers.iter().any(|y| y == x))
            };
            if !v.profiles.iter().filter(applies).any(|p| &p.class == class) {
                return Err(format!(
                    "{origin}: [verdict] requires class `{class}`{} but no profile {} has it",
                    provider.map(|x| format!(" on {x}")).unwrap_or_default(),
                    provider
                        .map(|x| format!("for {x}"))
                        .unwrap_or_else(|| "for every provider".into()),
                ));
            }
        }
        Ok(s)
    }

    /// Reads a suite file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = crate::config::limits::read_text(path, crate::config::limits::MAX_CONFIG_BYTES)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The load plan the defaults describe.
    pub fn plan(&self) -> Result<LoadPlan, String> {
        let d = &self.defaults;
        let dur = |s: &str, key: &str| {
            humantime::parse_duration(s).map_err(|e| format!("[defaults] {key} = \"{s}\": {e}"))
        };
        let mode = match (d.mode.as_str(), d.rate) {
            ("closed", _) => Mode::Closed,
            ("open", Some(rate)) if rate > 0.0 => Mode::Open { rate },
            ("open", _) => return Err("[defaults] mode = \"open\" needs rate > 0".into()),
            (m, _) => return Err(format!("[defaults] mode = \"{m}\": use closed or open")),
        };
        let bound = match (&d.requests, &d.duration) {
            (Some(n), _) => Bound::Requests(*n),
            (None, Some(s)) => Bound::Duration(dur(s, "duration")?),
            (None, None) => Bound::Duration(Duration::from_secs(60)),
        };
        for (key, value, max) in [
            ("concurrency", d.concurrency, 4096),
            ("objects", d.objects, 100_000),
            ("put_slots", d.put_slots, 1_000),
        ] {
            if value > max {
                return Err(format!("[defaults] {key} = {value}: at most {max}"));
            }
        }
        let mix = Mix::new(
            d.mix
                .iter()
                .map(|(k, w)| k.parse().map(|op| (op, *w)))
                .collect::<Result<Vec<_>, _>>()?,
        )?;
        let sizes = Mix::new(
            d.sizes
                .iter()
                .map(|(k, w)| parse_size(k).map(|s| (s, *w)))
                .collect::<Result<Vec<_>, _>>()?,
        )?;
        Ok(LoadPlan {
            mode,
            concurrency: d.concurrency.max(1),
            bound,
            warmup: dur(&d.warmup, "warmup")?,
            mix,
            sizes,
            objects: d.objects.max(1),
            timeout: dur(&d.timeout, "timeout")?,
            list_max_keys: d.list_max_keys.max(1),
            put_slots: d.put_slots.max(1),
            seed: 0x5eed,
            timeline: true,
            backoff_max: match &d.backoff_max {
                Some(s) => dur(s, "backoff_max")?,
                None => Duration::from_secs(20),
            },
            stop_after_failures: d.stop_after_failures.unwrap_or(20),
            shard: None,
            autoterm: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::request::Op;

    #[test]
    fn the_shipped_suite_models_label_studio_traffic() {
        let s = CapacitySuite::builtin();
        let plan = s.plan().unwrap();
        let w = |op: Op| {
            plan.mix
                .items()
                .iter()
                .find(|(o, _)| *o == op)
                .map_or(0, |x| x.1)
        };
        assert!(
            w(Op::Get) > w(Op::Put) && w(Op::Put) > w(Op::List),
            "{:?}",
            plan.mix
        );
        assert_eq!(w(Op::Delete), 0, "Label Studio never deletes");
        assert_eq!(plan.concurrency, 16);
        for p in &s.verdict.profiles {
            assert!(p.thresholds.iter().all(|t| !t.source.is_empty()));
        }
    }

    #[test]
    fn bad_suites_name_the_key() {
        let bad = BUILTIN.replace("mode = \"closed\"", "mode = \"sideways\"");
        let e = CapacitySuite::parse(&bad, "x.toml").unwrap_err();
        assert!(e.contains("mode") && e.starts_with("x.toml"), "{e}");
        let bad = BUILTIN.replace("required = \"hdd\"", "required = \"tape\"");
        assert!(
            CapacitySuite::parse(&bad, "x.toml")
                .unwrap_err()
                .contains("tape")
        );
        // A GCS-only profile cannot be what every provider or Azure must reach.
        let bad = BUILTIN.replace("required_azure = \"ssd\"", "required_azure = \"gcs\"");
        let e = CapacitySuite::parse(&bad, "x.toml").unwrap_err();
        assert!(e.contains("`gcs` on azure"), "{e}");
        let bad = BUILTIN.replace("providers = [\"gcs\"]", "providers = [\"gcp\"]");
        let e = CapacitySuite::parse(&bad, "x.toml").unwrap_err();
        assert!(e.contains("provider `gcp`"), "{e}");
    }
}
