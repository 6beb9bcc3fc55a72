//! The progress bar of `lsprobe load`: on a terminal only (stderr), redrawn a few times a
//! second, and suspended around any line printed while it shows.
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Bound, Live, LoadPlan};

/// The progress bar: on a terminal only (stderr), redrawn a few times a second, and
/// suspended around any line printed while it shows.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub(crate) fn new(plan: &LoadPlan) -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(
            Some(planned_len(plan)),
            ProgressDrawTarget::stderr_with_hz(4),
        );
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress { bar: Some(bar) }
    }

    pub(crate) fn phase(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_string());
        }
    }

    pub(crate) fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Switches to the measuring bar and starts its ticker (aborted by the caller).
    pub(crate) fn run(
        &self,
        plan: &LoadPlan,
        live: Arc<Live>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let bar = self.bar.clone()?;
        let unit = match plan.bound {
            Bound::Duration(_) => "s",
            Bound::Requests(_) => "requests",
        };
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}}"
            ))
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_length(planned_len(plan));
        bar.set_position(0);
        bar.set_message("warming up");
        let bound = plan.bound;
        let warmup = plan.warmup;
        Some(tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let l = live.snapshot();
                let pos = match bound {
                    Bound::Duration(_) => start.elapsed().as_secs(),
                    Bound::Requests(_) => l.done,
                };
                bar.set_position(pos.min(bar.length().unwrap_or(u64::MAX)));
                if l.done > 0 || start.elapsed() >= warmup {
                    bar.set_message(format!(
                        "{} ops/s  p50 {:.1} ms  p99 {:.1} ms  {} errors",
                        l.ops_per_s, l.p50_ms, l.p99_ms, l.errors
                    ));
                }
            }
        }))
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Elapsed / planned: seconds (warmup included) or measured requests.
fn planned_len(plan: &LoadPlan) -> u64 {
    match plan.bound {
        Bound::Duration(d) => (plan.warmup + d).as_secs().max(1),
        Bound::Requests(n) => n,
    }
}
