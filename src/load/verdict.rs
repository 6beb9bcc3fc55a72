//! The slow-storage verdict: storage-class profiles as data (suites/capacity.toml), each
//! threshold with the published figure it rests on; the verdict names which figure crossed
//! which threshold.
use std::fmt;

use serde::{Deserialize, Serialize};

use super::recorder::LatencySummary;

/// A figure the verdict looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Median GET time to first byte, ms (at most).
    GetTtfbP50Ms,
    /// 99th percentile GET time to first byte, ms (at most).
    GetTtfbP99Ms,
    /// Median HEAD latency, ms (at most).
    HeadP50Ms,
    /// 99th percentile HEAD latency, ms (at most).
    HeadP99Ms,
    /// Share of requests answered "slow down" (503, 429, SlowDown, ServerBusy), % (at most).
    ThrottledPct,
    /// GET throughput, MiB/s (at least).
    GetMibPerS,
    /// Share of requests that failed (denied, timed out, any other error) or, in the open
    /// loop, were never started (dropped), % (at most). Throttled answers count apart.
    FailedPct,
    /// Share of the measured seconds in which no request succeeded (the storage stalled or
    /// answered only errors), % (at most).
    StalledPct,
}

impl Metric {
    /// Whether the figure must stay at or below the limit (latency) rather than above it.
    pub fn is_ceiling(self) -> bool {
        !matches!(self, Metric::GetMibPerS)
    }

    /// The name in capacity.toml and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::GetTtfbP50Ms => "get_ttfb_p50_ms",
            Metric::GetTtfbP99Ms => "get_ttfb_p99_ms",
            Metric::HeadP50Ms => "head_p50_ms",
            Metric::HeadP99Ms => "head_p99_ms",
            Metric::ThrottledPct => "throttled_pct",
            Metric::GetMibPerS => "get_mib_per_s",
            Metric::FailedPct => "failed_pct",
            Metric::StalledPct => "stalled_pct",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.trim().to_string())).map_err(|_| {
            format!(
                "unknown metric `{s}`: use get_ttfb_p50_ms, get_ttfb_p99_ms, head_p50_ms, \
                 head_p99_ms, throttled_pct, get_mib_per_s, failed_pct or stalled_pct"
            )
        })
    }
}

/// One limit of a profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// What is measured.
    pub metric: Metric,
    /// The limit (a ceiling or a floor, see [`Metric::is_ceiling`]).
    pub limit: f64,
    /// The published figure this limit rests on.
    pub source: String,
}

/// A storage class and the limits it keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// `ssd`, `hdd`, ...
    pub class: String,
    /// The providers (`s3`, `gcs`, `azure`) the profile applies to; empty: every provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// Its limits.
    #[serde(rename = "threshold", default)]
    pub thresholds: Vec<Threshold>,
}

/// The verdict's configuration: profiles fastest first and the class required. A suite's
/// configuration holds every provider's profiles: judge a run with
/// [`VerdictConfig::for_provider`] of its provider (the CLI does).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictConfig {
    /// The class the storage must reach (any provider).
    pub required: String,
    /// The class Azure must reach (the guide asks for Premium / SSD).
    pub required_azure: Option<String>,
    /// The class GCS must reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_gcs: Option<String>,
    /// Profiles, fastest first.
    #[serde(rename = "profile")]
    pub profiles: Vec<Profile>,
}

impl VerdictConfig {
    /// Only the profiles that apply to `provider` (`s3`, `gcs`, `azure`).
    pub fn for_provider(mut self, provider: &str) -> Self {
        self.profiles
            .retain(|p| p.providers.is_empty() || p.providers.iter().any(|x| x == provider));
        self
    }

    /// Sets a limit of the `required` profile (adds the threshold if the profile has none for
    /// that metric): what `--threshold METRIC=VALUE` does.
    pub fn override_limit(
        &mut self,
        class: &str,
        metric: Metric,
        limit: f64,
    ) -> Result<(), String> {
        let profile = self
            .profiles
            .iter_mut()
            .find(|p| p.class == class)
            .ok_or_else(|| format!("no profile `{class}` in the capacity suite"))?;
        match profile.thresholds.iter_mut().find(|t| t.metric == metric) {
            Some(t) => {
                t.limit = limit;
                t.source = format!("command line (was: {})", t.source);
            }
            None => profile.thresholds.push(Threshold {
                metric,
                limit,
                source: "command line".into(),
            }),
        }
        Ok(())
    }

    fn rank(&self, class: &str) -> Option<usize> {
        self.profiles.iter().position(|p| p.class == class)
    }
}

/// The figures of a run the verdict judges (None: not measured).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// GET time to first byte of successful requests.
    pub get_ttfb: Option<LatencySummary>,
    /// HEAD latency of successful requests.
    pub head: Option<LatencySummary>,
    /// Throttled answers as a share of all requests, %.
    pub throttled_pct: Option<f64>,
    /// GET bytes per second, MiB/s.
    pub get_mib_per_s: Option<f64>,
    /// Failed (and dropped) requests as a share of all requests, %.
    pub failed_pct: Option<f64>,
    /// Seconds with no successful request as a share of the measured seconds, %.
    pub stalled_pct: Option<f64>,
}

impl Figures {
    fn value(&self, m: Metric) -> Option<f64> {
        match m {
            Metric::GetTtfbP50Ms => self.get_ttfb.as_ref().map(|l| l.p50),
            Metric::GetTtfbP99Ms => self.get_ttfb.as_ref().map(|l| l.p99),
            Metric::HeadP50Ms => self.head.as_ref().map(|l| l.p50),
            Metric::HeadP99Ms => self.head.as_ref().map(|l| l.p99),
            Metric::ThrottledPct => self.throttled_pct,
            Metric::GetMibPerS => self.get_mib_per_s,
            Metric::FailedPct => self.failed_pct,
            Metric::StalledPct => self.stalled_pct,
        }
    }
}

/// The verdict `load.verdict` reports: the report's type.
pub use crate::report::Verdict;

fn crossed(t: &Threshold, v: f64) -> bool {
    if t.metric.is_ceiling() {
        v > t.limit
    } else {
        v < t.limit
    }
}

/// Judges `figures`. `azure_sku` is the account SKU when known (`azure.account_kind`):
/// a Standard (HDD) account cannot be SSD-class whatever the latency. Every criterion a
/// profile misses is named, the account SKU first.
pub fn judge(
    cfg: &VerdictConfig,
    required: &str,
    figures: &Figures,
    azure_sku: Option<&str>,
) -> Verdict {
    let mut reasons = Vec::new();
    let measured = cfg
        .profiles
        .iter()
        .flat_map(|p| &p.thresholds)
        .any(|t| figures.value(t.metric).is_some())
        || figures.failed_pct.is_some();
    let hdd_account = azure_sku.is_some_and(|s| s.starts_with("Standard"));
    let mut class = None;
    for p in &cfg.profiles {
        let mut holds = true;
        if hdd_account && p.class == "ssd" {
            holds = false;
            reasons.push(format!(
                "ssd: Azure account SKU {} is HDD-backed; the guide asks for Premium_LRS / \
                 BlockBlobStorage (\"might be too slow and could malfunction\")",
                azure_sku.unwrap_or_default()
            ));
        }
        for t in &p.thresholds {
            if let Some(v) = figures.value(t.metric)
                && crossed(t, v)
            {
                holds = false;
                let cmp = if t.metric.is_ceiling() { ">" } else { "<" };
                reasons.push(format!(
                    "{}: {} {v:.1} {cmp} {} ({})",
                    p.class, t.metric, t.limit, t.source
                ));
            }
        }
        if holds {
            class = Some(p.class.clone());
            break;
        }
    }
    let required_rank = cfg.rank(required).unwrap_or(0);
    let (class, slow) = match class {
        _ if !measured => {
            reasons.push("no request was measured: no class can be given".into());
            ("unknown".to_string(), false)
        }
        Some(c) => {
            let slow = cfg.rank(&c).is_none_or(|r| r > required_rank);
            // Keep only the reasons that explain the class: those of faster profiles.
            let r = cfg.rank(&c).unwrap_or(usize::MAX);
            reasons.retain(|line| {
                cfg.profiles[..r.min(cfg.profiles.len())]
                    .iter()
                    .any(|p| line.starts_with(&format!("{}:", p.class)))
            });
            (c, slow)
        }
        None => {
            reasons.push("slower than every profile".into());
            ("unknown".to_string(), true)
        }
    };
    Verdict {
        slow,
        class,
        required: required.to_string(),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::suite::CapacitySuite;

    fn figures(p50: f64, p99: f64) -> Figures {
        Figures {
            get_ttfb: Some(LatencySummary {
                p50,
                p99,
                ..Default::default()
            }),
            head: None,
            throttled_pct: Some(0.0),
            get_mib_per_s: Some(100.0),
            failed_pct: Some(0.0),
            stalled_pct: Some(0.0),
        }
    }

    #[test]
    fn classes_follow_the_suite_profiles() {
        let cfg = CapacitySuite::builtin().verdict.for_provider("s3");
        let fast = judge(&cfg, "ssd", &figures(2.0, 10.0), None);
        assert_eq!((fast.slow, fast.class.as_str()), (false, "ssd"), "{fast:?}");
        assert!(fast.reasons.is_empty());

        let mid = judge(&cfg, "ssd", &figures(55.0, 80.0), None);
        assert_eq!((mid.slow, mid.class.as_str()), (true, "hdd"));
        assert_eq!(mid.reasons.len(), 1, "{mid:?}");
        assert!(
            mid.reasons[0].starts_with("ssd: get_ttfb_p50_ms 55.0 > 30"),
            "{mid:?}"
        );

        let ok_for_s3 = judge(&cfg, "hdd", &figures(55.0, 80.0), None);
        assert!(!ok_for_s3.slow);

        let awful = judge(&cfg, "hdd", &figures(500.0, 3000.0), None);
        assert_eq!((awful.slow, awful.class.as_str()), (true, "unknown"));
        assert!(
            awful
                .reasons
                .iter()
                .any(|r| r.contains("hdd: get_ttfb_p99_ms 3000.0 > 1000"))
        );
    }

    #[test]
    fn a_standard_azure_account_is_not_ssd_and_nothing_measured_is_unknown() {
        let cfg = CapacitySuite::builtin().verdict.for_provider("azure");
        let v = judge(&cfg, "ssd", &figures(2.0, 10.0), Some("Standard_RAGRS"));
        assert_eq!((v.slow, v.class.as_str()), (true, "hdd"));
        assert!(v.reasons[0].contains("Standard_RAGRS"));
        // Slow *and* Standard: every criterion is named, the SKU first.
        let both = judge(&cfg, "ssd", &figures(55.0, 400.0), Some("Standard_LRS"));
        assert_eq!((both.slow, both.class.as_str()), (true, "hdd"));
        assert!(both.reasons[0].contains("Standard_LRS"), "{both:?}");
        assert!(both.reasons[1].starts_with("ssd: get_ttfb_p50_ms 55.0 > 30"));
        assert!(both.reasons[2].starts_with("ssd: get_ttfb_p99_ms 400.0 > 150"));
        let none = judge(&cfg, "ssd", &Figures::default(), None);
        assert_eq!((none.slow, none.class.as_str()), (false, "unknown"));
    }

    #[test]
    fn gcs_is_held_to_googles_figures_and_only_gcs_is() {
        let suite = CapacitySuite::builtin().verdict;
        assert!(
            !suite
                .clone()
                .for_provider("s3")
                .profiles
                .iter()
                .any(|p| p.class == "gcs")
        );
        let cfg = suite.for_provider("gcs");
        let required = cfg.required_gcs.clone().unwrap();
        assert_eq!(required, "gcs");
        let ok = judge(&cfg, &required, &figures(55.0, 400.0), None);
        assert_eq!((ok.slow, ok.class.as_str()), (false, "gcs"), "{ok:?}");
        let fast = judge(&cfg, &required, &figures(2.0, 10.0), None);
        assert_eq!(fast.class, "gcs", "GCS has no SSD tier: {fast:?}");
        let slow = judge(&cfg, &required, &figures(150.0, 400.0), None);
        assert_eq!((slow.slow, slow.class.as_str()), (true, "hdd"), "{slow:?}");
        assert!(
            slow.reasons
                .iter()
                .any(|r| r.starts_with("gcs: get_ttfb_p50_ms 150.0 > 100")),
            "{slow:?}"
        );
    }

    #[test]
    fn failed_and_stalled_runs_are_never_fast_enough() {
        let cfg = CapacitySuite::builtin().verdict;
        // Dead storage: every request failed, nothing succeeded to time.
        let dead = Figures {
            throttled_pct: Some(0.0),
            failed_pct: Some(100.0),
            stalled_pct: Some(70.0),
            ..Default::default()
        };
        let v = judge(&cfg, "hdd", &dead, None);
        assert_eq!((v.slow, v.class.as_str()), (true, "unknown"), "{v:?}");
        assert!(v.reasons.iter().any(|r| r.contains("failed_pct 100.0 > 1")));
        assert!(
            v.reasons
                .iter()
                .any(|r| r.contains("stalled_pct 70.0 > 10"))
        );
        // Fast answers, but a few percent failed: not even HDD-class.
        let mut flaky = figures(2.0, 10.0);
        flaky.failed_pct = Some(3.0);
        let v = judge(&cfg, "hdd", &flaky, None);
        assert!(v.slow, "{v:?}");
        // Fast while answering, stalled 9 of 10 seconds (the closed loop hides it in latency).
        let mut stalled = figures(2.0, 10.0);
        stalled.stalled_pct = Some(90.0);
        assert!(judge(&cfg, "hdd", &stalled, None).slow);
    }

    #[test]
    fn limits_can_be_overridden() {
        let mut cfg = CapacitySuite::builtin().verdict;
        cfg.override_limit("ssd", Metric::GetTtfbP50Ms, 100.0)
            .unwrap();
        assert!(!judge(&cfg, "ssd", &figures(55.0, 80.0), None).slow);
        assert!(
            cfg.override_limit("nvme", Metric::GetTtfbP50Ms, 1.0)
                .is_err()
        );
        assert_eq!("head_p99_ms".parse::<Metric>().unwrap(), Metric::HeadP99Ms);
        assert!("p42".parse::<Metric>().is_err());
    }
}
