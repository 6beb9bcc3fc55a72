//! `--autoterm`: stop a run once its throughput and p99 have been stable for a window, so a
//! capacity run takes as long as the answer needs (`--duration` stays the cap).
//!
//! The decision reads the per-second timeline (the report's `timeline[]`), so anyone can
//! check it afterwards. Over the last `window` whole measured seconds:
//! - each second's throughput is its successful requests (all operations), and its p99 the
//!   mean of its operations' p99s weighted by their successful requests;
//! - the window is cut into [`BLOCKS`] equal blocks of consecutive seconds; a block's
//!   throughput is its successful requests per second, its p99 the weighted mean of its
//!   seconds' p99s (weights: successful requests);
//! - the run is stable when every block's throughput is within ±`tolerance` of the whole
//!   window's throughput and every block's p99 within ±`tolerance` of the window's p99
//!   (a window with no successful request is never stable).
//!
//! Blocks rather than single seconds, like warp's 25 segments of which the last 7 must lie
//! within 7.5 % of the current speed: jitter inside a block averages out, a drift across the
//! window (a trend, a ramp-up, throttling setting in) does not.
use std::time::Duration;

use crate::report::TimelinePoint;

/// Blocks a window is cut into.
pub const BLOCKS: u32 = 5;
/// warp's default tolerance (`--autoterm.pct 7.5`).
pub const DEFAULT_TOLERANCE: f64 = 0.075;
/// The default window (warp's `--autoterm.dur` is 10 s, 15 s in later releases).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);

/// When a run may stop early.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Autoterm {
    /// Whole seconds the figures must have been stable (at least [`BLOCKS`]).
    pub window_s: u32,
    /// The largest relative deviation of a block from the window, e.g. 0.075.
    pub tolerance: f64,
}

impl Default for Autoterm {
    fn default() -> Self {
        Autoterm {
            window_s: DEFAULT_WINDOW.as_secs() as u32,
            tolerance: DEFAULT_TOLERANCE,
        }
    }
}

/// Successful requests and their weighted p99 over some seconds.
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    ok: f64,
    /// Σ p99 × ok.
    p99_weighted: f64,
    seconds: f64,
}

impl Span {
    fn add(&mut self, other: Span) {
        self.ok += other.ok;
        self.p99_weighted += other.p99_weighted;
        self.seconds += other.seconds;
    }

    fn rate(&self) -> f64 {
        self.ok / self.seconds.max(1.0)
    }

    fn p99(&self) -> f64 {
        if self.ok > 0.0 {
            self.p99_weighted / self.ok
        } else {
            0.0
        }
    }
}

fn within(value: f64, reference: f64, tolerance: f64) -> bool {
    (value - reference).abs() <= tolerance * reference
}

impl Autoterm {
    /// Whether the run is stable after `seconds` whole measured seconds (seconds
    /// `0..seconds` of `points` are complete; later points are ignored).
    pub fn is_stable(&self, points: &[TimelinePoint], seconds: u64) -> bool {
        let w = u64::from(self.window_s.max(BLOCKS));
        if seconds < w {
            return false;
        }
        let from = seconds - w;
        let mut per_second = vec![Span::default(); w as usize];
        for (i, s) in per_second.iter_mut().enumerate() {
            s.seconds = 1.0;
            let sec = from + i as u64;
            for p in points.iter().filter(|p| p.second == sec) {
                let ok = p.count.saturating_sub(p.errors) as f64;
                s.ok += ok;
                s.p99_weighted += p.p99_ms * ok;
            }
        }
        let mut window = Span::default();
        for s in &per_second {
            window.add(*s);
        }
        if window.ok == 0.0 {
            return false;
        }
        let blocks = u64::from(BLOCKS);
        (0..blocks).all(|b| {
            let (lo, hi) = ((b * w / blocks) as usize, ((b + 1) * w / blocks) as usize);
            let mut block = Span::default();
            for s in &per_second[lo..hi] {
                block.add(*s);
            }
            within(block.rate(), window.rate(), self.tolerance)
                && within(block.p99(), window.p99(), self.tolerance)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Op;

    /// A timeline of (successful GETs, p99 ms) per second, plus a PUT row of a tenth of
    /// the GETs at twice their p99.
    fn timeline(seconds: &[(u64, f64)]) -> Vec<TimelinePoint> {
        let mut points = Vec::new();
        for (second, &(ok, p99)) in seconds.iter().enumerate() {
            let point = |op, count: u64, p99_ms| TimelinePoint {
                second: second as u64,
                op,
                count: count + 1,
                errors: 1,
                bytes: 0,
                p50_ms: p99_ms / 3.0,
                p99_ms,
            };
            points.push(point(Op::Get, ok, p99));
            points.push(point(Op::Put, ok / 10, p99 * 2.0));
        }
        points
    }

    fn rule() -> Autoterm {
        Autoterm::default()
    }

    #[test]
    fn a_steady_run_is_stable_once_the_window_is_full() {
        // Jitter of a few percent per second, averaging out over 2-second blocks.
        let steady: Vec<(u64, f64)> = (0..12)
            .map(|s| (1000 + [0, 30, 0, 30][s % 4], 20.0 + [0.0, 0.8][s % 2]))
            .collect();
        let points = timeline(&steady);
        assert!(!rule().is_stable(&points, 9), "too short: 9 of 10 seconds");
        assert!(rule().is_stable(&points, 10));
        assert!(rule().is_stable(&points, 12));
        // Seconds not yet complete are not read.
        let mut late = points.clone();
        late.extend(timeline(&[(1, 900.0); 13]).into_iter().skip(24));
        assert!(rule().is_stable(&late, 12));
    }

    #[test]
    fn a_trend_or_a_ramp_is_not_stable() {
        // Throughput growing 3 % a second: 27 % over the window.
        let ramp: Vec<(u64, f64)> = (0..20)
            .map(|s| ((1000.0 * 1.03f64.powi(s)) as u64, 20.0))
            .collect();
        assert!(!rule().is_stable(&timeline(&ramp), 20));
        // p99 creeping up 2 % a second at a steady throughput (a queue building up).
        let creep: Vec<(u64, f64)> = (0..20).map(|s| (1000, 20.0 * 1.02f64.powi(s))).collect();
        assert!(!rule().is_stable(&timeline(&creep), 20));
        // The same runs with a tolerance wide enough for the drift: stable.
        let loose = Autoterm {
            window_s: 10,
            tolerance: 0.5,
        };
        assert!(loose.is_stable(&timeline(&ramp), 20));
        assert!(loose.is_stable(&timeline(&creep), 20));
    }

    #[test]
    fn noise_beyond_the_tolerance_or_a_stall_is_not_stable() {
        // Blocks alternating ±12 % around their mean.
        let noisy: Vec<(u64, f64)> = (0..10)
            .map(|s| (if (s / 2) % 2 == 0 { 880 } else { 1120 }, 20.0))
            .collect();
        assert!(!rule().is_stable(&timeline(&noisy), 10));
        // p99 spikes in one block.
        let mut spiky = vec![(1000, 20.0); 10];
        spiky[4] = (1000, 60.0);
        assert!(!rule().is_stable(&timeline(&spiky), 10));
        // A second with no answer at all (no timeline row).
        let mut points = timeline(&[(1000, 20.0); 10]);
        points.retain(|p| p.second != 6);
        assert!(!rule().is_stable(&points, 10));
        // Nothing but errors: never stable.
        assert!(!rule().is_stable(&timeline(&[(0, 0.0); 10]), 10));
        assert!(!rule().is_stable(&[], 10));
    }
}
