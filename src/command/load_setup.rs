//! `lsprobe load`'s flags against its capacity suite: every value validated and bounded
//! before any request is sent, each error naming its flag (exit 2).
use std::time::Duration;

use super::lifecycle::cleanup_limit;
use crate::RunError;
use crate::cli::LoadArgs;
use crate::config::Provider;
use crate::config::parse::shorten;
use crate::load::autoterm::BLOCKS;
use crate::load::schedule::{parse_op_mix, parse_size_mix};
use crate::load::suite::CapacitySuite;
use crate::load::verdict::Metric;
use crate::load::{Autoterm, Bound, LoadPlan, Mode, Shard, VerdictConfig};

/// Largest object size accepted: bodies are generated once per size and held in memory.
const MAX_SIZE: u64 = 1 << 30;
/// The most objects the prepare phase writes (each one a request before measuring starts).
const MAX_OBJECTS: usize = 100_000;
/// The highest open-loop rate: far above what one machine sends or one prefix takes.
const MAX_RATE: f64 = 100_000.0;
/// The longest measured duration, and warmup.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
const MAX_WARMUP: Duration = Duration::from_secs(3600);
/// The most measured requests.
const MAX_REQUESTS: u64 = 1_000_000_000;

/// What the flags and the suite ask for, validated before any request is sent.
#[derive(Debug)]
pub struct Setup {
    /// The load plan.
    pub plan: LoadPlan,
    /// Profiles, with `--threshold` overrides applied to the required class.
    pub verdict: VerdictConfig,
    /// The class required.
    pub required: String,
    /// `--existing-prefix`.
    pub existing: Option<String>,
    /// `--cleanup-timeout`.
    pub cleanup_limit: Duration,
}

/// Bad input (exit 2).
pub(crate) fn bad(msg: String) -> RunError {
    RunError::BadInput(msg)
}

impl Setup {
    /// Validates the flags against the suite; every error names its flag (exit 2).
    pub fn from_args(args: &LoadArgs, provider: Option<Provider>) -> Result<Self, RunError> {
        let suite = match args.suite.as_str() {
            "capacity" => CapacitySuite::builtin(),
            path => CapacitySuite::load(std::path::Path::new(path))
                .map_err(|e| bad(format!("--suite {path}: {e}")))?,
        };
        let mut plan = suite.plan().map_err(|e| bad(format!("--suite: {e}")))?;
        if let Some(s) = &args.mix {
            plan.mix = parse_op_mix(s).map_err(|e| bad(format!("--mix `{}`: {e}", shorten(s))))?;
        }
        if let Some(s) = &args.sizes {
            let s = &shorten(s);
            let sizes = parse_size_mix(s).map_err(|e| bad(format!("--size `{s}`: {e}")))?;
            for &(size, _) in sizes.items() {
                if size == 0 {
                    return Err(bad(format!(
                        "--size `{s}`: object sizes must be at least 1 byte (e.g. 4KiB)"
                    )));
                }
                if size > MAX_SIZE {
                    return Err(bad(format!(
                        "--size `{s}`: at most 1GiB per object (each size's body is held in \
                         memory once)"
                    )));
                }
            }
            plan.sizes = sizes;
        }
        if let Some(n) = args.concurrency {
            if !(1..=4096).contains(&n) {
                return Err(bad(format!(
                    "--concurrency {n}: give 1 to 4096 workers (one connection each)"
                )));
            }
            plan.concurrency = n;
        }
        let duration = |flag: &str, s: &str| {
            humantime::parse_duration(s.trim())
                .map_err(|e| bad(format!("{flag} `{}`: {e} (e.g. 30s, 5m)", shorten(s))))
        };
        if let Some(s) = &args.duration {
            let d = duration("--duration", s)?;
            if d.is_zero() || d > MAX_DURATION {
                return Err(bad(format!(
                    "--duration `{s}`: must be longer than 0 and at most 24h"
                )));
            }
            plan.bound = Bound::Duration(d);
        }
        if let Some(n) = args.requests {
            if n == 0 || n > MAX_REQUESTS {
                return Err(bad(format!(
                    "--requests {n}: measure 1 to {MAX_REQUESTS} requests"
                )));
            }
            plan.bound = Bound::Requests(n);
        }
        if let Some(rate) = args.rate {
            if !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE) {
                return Err(bad(format!(
                    "--rate {rate}: give a positive number of operations per second, at most \
                     {MAX_RATE} (open loop), or leave it out for a closed loop"
                )));
            }
            plan.mode = Mode::Open { rate };
        }
        if let Some(s) = &args.warmup {
            plan.warmup = duration("--warmup", s)?;
            if plan.warmup > MAX_WARMUP {
                return Err(bad(format!("--warmup `{s}`: at most 1h")));
            }
        }
        if let Some(n) = args.objects {
            if n == 0 || n > MAX_OBJECTS {
                return Err(bad(format!(
                    "--objects {n}: the GET set needs 1 to {MAX_OBJECTS} objects"
                )));
            }
            plan.objects = n;
        }
        if let Some(prefix) = &args.existing_prefix
            && let Some(op) = plan
                .mix
                .items()
                .iter()
                .map(|(op, _)| *op)
                .find(|op| op.writes())
        {
            return Err(bad(format!(
                "--existing-prefix {prefix} reads only and writes nothing: remove `{op}` from \
                 the mix (e.g. --mix get=80,head=20)"
            )));
        }
        if args.autoterm {
            plan.autoterm = Some(autoterm(args, &plan)?);
        }
        let shard =
            Shard::resolve(args.shard.as_deref(), |k| std::env::var(k).ok()).map_err(bad)?;
        if let Some(shard) = shard {
            plan = plan
                .for_shard(shard, args.existing_prefix.is_some())
                .map_err(bad)?;
        }
        let mut verdict = match provider {
            Some(p) => suite.verdict.clone().for_provider(p.as_str()),
            None => suite.verdict.clone(),
        };
        let required = match &args.require {
            Some(class) => {
                if !verdict.profiles.iter().any(|p| &p.class == class) {
                    let known: Vec<&str> =
                        verdict.profiles.iter().map(|p| p.class.as_str()).collect();
                    return Err(bad(format!(
                        "--require {class}: no such class in the capacity suite (classes: {})",
                        known.join(", ")
                    )));
                }
                class.clone()
            }
            None if provider == Some(Provider::Azure) => verdict
                .required_azure
                .clone()
                .unwrap_or_else(|| verdict.required.clone()),
            None if provider == Some(Provider::Gcs) => verdict
                .required_gcs
                .clone()
                .unwrap_or_else(|| verdict.required.clone()),
            None => verdict.required.clone(),
        };
        for t in &args.thresholds {
            let t = &shorten(t);
            let (metric, value) = t.split_once('=').ok_or_else(|| {
                bad(format!(
                    "--threshold `{t}`: write METRIC=VALUE, e.g. get_ttfb_p50_ms=50"
                ))
            })?;
            let metric: Metric = metric
                .parse()
                .map_err(|e| bad(format!("--threshold `{t}`: {e}")))?;
            let value: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    bad(format!(
                        "--threshold `{t}`: the value must be a number at least 0"
                    ))
                })?;
            verdict
                .override_limit(&required, metric, value)
                .map_err(|e| bad(format!("--threshold `{t}`: {e}")))?;
        }
        Ok(Setup {
            plan,
            verdict,
            required,
            existing: args.existing_prefix.clone(),
            cleanup_limit: cleanup_limit(&args.cleanup_timeout)?,
        })
    }
}

/// `--autoterm` with its window and tolerance, against the plan's bound (the cap).
fn autoterm(args: &LoadArgs, plan: &LoadPlan) -> Result<Autoterm, RunError> {
    let cap = match plan.bound {
        Bound::Duration(d) => d,
        Bound::Requests(_) => {
            return Err(bad(
                "--autoterm stops a run by time, when its figures are stable; it does not go \
                 with --requests (or a suite counting requests): give --duration as the cap \
                 instead"
                    .into(),
            ));
        }
    };
    let mut rule = Autoterm::default();
    if let Some(s) = &args.autoterm_window {
        let s = &shorten(s);
        let d = humantime::parse_duration(s.trim())
            .map_err(|e| bad(format!("--autoterm-window `{s}`: {e} (e.g. 10s)")))?;
        if d < Duration::from_secs(u64::from(BLOCKS)) || d.subsec_nanos() != 0 {
            return Err(bad(format!(
                "--autoterm-window `{s}`: give whole seconds, at least {BLOCKS}s (the window \
                 is cut into {BLOCKS} blocks of at least a second)"
            )));
        }
        rule.window_s = d.as_secs().min(u64::from(u32::MAX)) as u32;
    }
    if Duration::from_secs(u64::from(rule.window_s)) >= cap {
        return Err(bad(format!(
            "--autoterm-window {}s is not shorter than --duration {}: the run could never stop \
             early; give a longer --duration (the cap) or a shorter window",
            rule.window_s,
            humantime::format_duration(cap)
        )));
    }
    if let Some(s) = &args.autoterm_tolerance {
        let s = &shorten(s);
        rule.tolerance = s
            .trim()
            .trim_end_matches('%')
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && *p > 0.0 && *p < 100.0)
            .ok_or_else(|| {
                bad(format!(
                    "--autoterm-tolerance `{s}`: give a percentage above 0 and below 100, e.g. 7.5"
                ))
            })?
            / 100.0;
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn setup(flags: &[&str]) -> Result<Setup, String> {
        let mut argv = vec!["lsprobe", "load"];
        argv.extend_from_slice(flags);
        let cli = crate::cli::Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let crate::cli::Command::Load(args) = cli.command else {
            unreachable!()
        };
        Setup::from_args(&args, Some(Provider::S3)).map_err(|e| e.to_string())
    }

    #[test]
    fn flags_override_the_suite() {
        let s = setup(&[
            "--mix",
            "get=1",
            "--size",
            "4KiB",
            "--concurrency",
            "3",
            "--requests",
            "50",
            "--rate",
            "20",
            "--threshold",
            "get_ttfb_p50_ms=5",
            "--require",
            "ssd",
        ])
        .unwrap();
        assert_eq!(s.plan.concurrency, 3);
        assert_eq!(s.plan.bound, Bound::Requests(50));
        assert_eq!(s.plan.mode, Mode::Open { rate: 20.0 });
        assert_eq!(s.required, "ssd");
        let ssd = &s.verdict.profiles[0];
        assert!(ssd.thresholds.iter().any(|t| t.limit == 5.0
            && t.metric == Metric::GetTtfbP50Ms
            && t.source.starts_with("command line")));
        let defaults = setup(&[]).unwrap();
        assert_eq!(defaults.required, "hdd");
        assert_eq!(defaults.plan.mode, Mode::Closed);
    }

    #[test]
    fn gcs_is_required_to_reach_the_gcs_profile_and_only_gcs_has_it() {
        let cli = crate::cli::Cli::try_parse_from(["lsprobe", "load"]).unwrap();
        let crate::cli::Command::Load(args) = cli.command else {
            unreachable!()
        };
        let gcs = Setup::from_args(&args, Some(Provider::Gcs)).unwrap();
        assert_eq!(gcs.required, "gcs");
        assert!(gcs.verdict.profiles.iter().any(|p| p.class == "gcs"));
        let e = setup(&["--require", "gcs"]).unwrap_err();
        assert!(e.contains("--require gcs: no such class"), "{e}");
    }

    #[test]
    fn bad_flags_are_named() {
        for (flags, named) in [
            (&["--mix", "put=abc"][..], "--mix"),
            (&["--size", "0"][..], "--size"),
            (&["--size", "2GiB"][..], "--size"),
            (&["--rate", "-1"][..], "--rate"),
            (&["--rate", "0"][..], "--rate"),
            (&["--concurrency", "0"][..], "--concurrency"),
            (&["--duration", "soon"][..], "--duration"),
            (&["--requests", "0"][..], "--requests"),
            (&["--objects", "0"][..], "--objects"),
            (&["--objects", "99999999999"][..], "--objects"),
            (&["--rate", "99999999999"][..], "--rate"),
            (&["--duration", "1000d"][..], "--duration"),
            (&["--mix", "get=70,get=30"][..], "--mix"),
            (&["--mix", "get=70,,put=30"][..], "--mix"),
            (&["--size", "4KiB:50,"][..], "--size"),
            (&["--size", "-1"][..], "--size"),
            (&["--cleanup-timeout", "soon"][..], "--cleanup-timeout"),
            (&["--threshold", "p42=1"][..], "--threshold"),
            (&["--threshold", "head_p99_ms=-3"][..], "--threshold"),
            (&["--require", "tape"][..], "--require"),
            (
                &["--existing-prefix", "media/", "--mix", "get=9,put=1"][..],
                "put",
            ),
            (&["--shard", "3/2"][..], "--shard"),
            (&["--shard", "0/0"][..], "--shard"),
            (&["--shard", "x"][..], "--shard"),
            (&["--shard", "0/3", "--requests", "2"][..], "--requests"),
            (&["--shard", "0/3", "--objects", "2"][..], "--objects"),
            (&["--autoterm", "--requests", "100"][..], "--autoterm"),
            (
                &["--autoterm", "--autoterm-window", "2s"][..],
                "--autoterm-window",
            ),
            (
                &["--autoterm", "--autoterm-window", "1.5s"][..],
                "--autoterm-window",
            ),
            (
                &["--autoterm", "--autoterm-window", "soon"][..],
                "--autoterm-window",
            ),
            (
                &[
                    "--autoterm",
                    "--autoterm-window",
                    "30s",
                    "--duration",
                    "30s",
                ][..],
                "--autoterm-window",
            ),
            (
                &["--autoterm", "--autoterm-tolerance", "0"][..],
                "--autoterm-tolerance",
            ),
            (
                &["--autoterm", "--autoterm-tolerance", "100"][..],
                "--autoterm-tolerance",
            ),
            (
                &["--autoterm", "--autoterm-tolerance", "lots"][..],
                "--autoterm-tolerance",
            ),
        ] {
            let e = setup(flags).unwrap_err();
            assert!(e.contains(named), "{flags:?}: {e}");
        }
        assert!(setup(&["--existing-prefix", "media/", "--mix", "get=9,head=1"]).is_ok());
        // Only with --autoterm.
        assert!(setup(&["--autoterm-window", "10s"]).is_err());
    }

    #[test]
    fn a_shard_takes_its_part_and_reports_the_whole_plan() {
        let flags = |i: &str| {
            setup(&[
                "--shard",
                i,
                "--requests",
                "10",
                "--objects",
                "7",
                "--rate",
                "300",
            ])
            .unwrap()
            .plan
        };
        let whole = setup(&["--requests", "10", "--objects", "7", "--rate", "300"]).unwrap();
        let parts: Vec<LoadPlan> = ["0/3", "1/3", "2/3"].into_iter().map(flags).collect();
        let requests: Vec<Bound> = parts.iter().map(|p| p.bound).collect();
        assert_eq!(
            requests,
            [Bound::Requests(4), Bound::Requests(3), Bound::Requests(3)]
        );
        let objects: Vec<usize> = parts.iter().map(|p| p.objects).collect();
        assert_eq!(objects, [3, 2, 2]);
        assert!(parts.iter().all(|p| p.mode == Mode::Open { rate: 100.0 }));
        assert!(parts.iter().all(|p| p.summary() == whole.plan.summary()));
        assert_ne!(parts[0].seed, parts[1].seed);
        let s = parts[2].shard.as_ref().unwrap().shard;
        assert_eq!(s.to_string(), "2/3");
        let e = setup(&["--shard", "2/3", "--requests", "2"]).unwrap_err();
        assert!(
            e.contains("--requests 2 with --shard 2/3: each of the 3 shards needs at least one"),
            "{e}"
        );
        let e = setup(&["--shard", "0/3", "--objects", "2"]).unwrap_err();
        assert!(e.contains("writes its part of the GET set"), "{e}");
    }

    #[test]
    fn autoterm_defaults_to_warps_tolerance() {
        let s = setup(&["--autoterm", "--duration", "5m"]).unwrap();
        assert_eq!(s.plan.autoterm, Some(Autoterm::default()));
        assert_eq!(s.plan.autoterm.unwrap().tolerance, 0.075);
        let s = setup(&[
            "--autoterm",
            "--autoterm-window",
            "20s",
            "--autoterm-tolerance",
            "5%",
        ])
        .unwrap();
        let rule = s.plan.autoterm.unwrap();
        assert_eq!((rule.window_s, rule.tolerance), (20, 0.05));
    }
}
