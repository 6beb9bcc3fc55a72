//! When requests start and what they do: closed or open loop, operation and size mixes, and
//! a cheap per-worker RNG. The only shared state is one atomic counter.
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::request::Op;

/// xorshift64*: a few nanoseconds per draw, one per worker (no shared state).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A weighted choice among a few items (operations, object sizes).
#[derive(Clone, Debug, PartialEq)]
pub struct Mix<T> {
    items: Vec<(T, u32)>,
    total: u32,
}

impl<T: Copy> Mix<T> {
    /// From (item, weight) pairs; zero weights are dropped. Fails when nothing is left.
    pub fn new(weighted: impl IntoIterator<Item = (T, u32)>) -> Result<Self, String> {
        let items: Vec<(T, u32)> = weighted.into_iter().filter(|(_, w)| *w > 0).collect();
        let total = items.iter().map(|(_, w)| *w).sum();
        if total == 0 {
            return Err("the mix is empty: give at least one positive weight".into());
        }
        Ok(Mix { items, total })
    }

    /// One item, drawn by weight.
    #[inline]
    pub fn pick(&self, rng: &mut Rng) -> T {
        let mut r = rng.below(u64::from(self.total)) as u32;
        for (item, w) in &self.items {
            if r < *w {
                return *item;
            }
            r -= w;
        }
        self.items[self.items.len() - 1].0
    }

    /// Items and weights.
    pub fn items(&self) -> &[(T, u32)] {
        &self.items
    }

    /// The item that holds position `i` of `n` spread in proportion to the weights
    /// (deterministic: the prepared GET set follows the size mix exactly).
    pub fn spread(&self, i: usize, n: usize) -> T {
        let pos = (i as u64 * u64::from(self.total) / n.max(1) as u64) as u32;
        let mut acc = 0;
        for (item, w) in &self.items {
            acc += w;
            if pos < acc {
                return *item;
            }
        }
        self.items[self.items.len() - 1].0
    }

    /// Whether any item satisfies `f`.
    pub fn any(&self, f: impl Fn(T) -> bool) -> bool {
        self.items.iter().any(|(t, _)| f(*t))
    }
}

/// The comma-separated parts of a mix: none empty (`get=70,,put=30` or a trailing comma is
/// a typo, not a shorter mix).
fn parts(s: &str) -> Result<impl Iterator<Item = &str>, String> {
    if s.split(',').any(|p| p.trim().is_empty()) {
        return Err("an empty item (two commas in a row, or one at either end)".into());
    }
    Ok(s.split(','))
}

/// Refuses an item given twice (`get=70,get=30`: which weight was meant?).
fn no_repeats<T: PartialEq + fmt::Display>(items: &[(T, u32)]) -> Result<(), String> {
    for (i, (a, _)) in items.iter().enumerate() {
        if items[..i].iter().any(|(b, _)| a == b) {
            return Err(format!(
                "`{a}` is given twice: give each once with its weight"
            ));
        }
    }
    Ok(())
}

/// `put=20,get=70,head=10`.
pub fn parse_op_mix(s: &str) -> Result<Mix<Op>, String> {
    let mut v = Vec::new();
    for part in parts(s)? {
        let (op, w) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}`: write OP=WEIGHT, e.g. get=70"))?;
        let w: u32 = w
            .trim()
            .parse()
            .map_err(|_| format!("`{part}`: weight must be a whole number"))?;
        v.push((op.parse::<Op>()?, w));
    }
    no_repeats(&v)?;
    Mix::new(v).map_err(|e| format!("operation mix `{s}`: {e}"))
}

/// `4KiB:50,256KiB:40,8MiB:10` (a single `256KiB` means weight 1).
pub fn parse_size_mix(s: &str) -> Result<Mix<u64>, String> {
    let mut v = Vec::new();
    for part in parts(s)? {
        let (size, w) = part.split_once(':').unwrap_or((part, "1"));
        let w: u32 = w
            .trim()
            .parse()
            .map_err(|_| format!("`{part}`: weight must be a whole number"))?;
        v.push((parse_size(size)?, w));
    }
    no_repeats(&v)?;
    Mix::new(v).map_err(|e| format!("size mix `{s}`: {e}"))
}

/// `4096`, `4KiB`, `256KiB`, `8MiB`, `1GiB` (binary), `4KB`/`1MB` (decimal).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("size `{s}`: expected e.g. 4KiB or 8MiB"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(format!(
                "size `{s}`: unknown unit `{unit}` (use B, KiB, MiB, GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size `{s}` is too large"))
}

/// How requests are paced.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// N workers, each sending its next request when the previous one ends.
    Closed,
    /// A constant arrival rate (requests per second across all workers); latency is measured
    /// from each request's intended start, so a stalled server is not hidden.
    Open {
        /// Requests per second.
        rate: f64,
    },
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Closed => f.write_str("closed"),
            Mode::Open { .. } => f.write_str("open"),
        }
    }
}

/// When the measured part of a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// After this long (excluding the warmup).
    Duration(Duration),
    /// After this many measured requests.
    Requests(u64),
}

impl FromStr for Bound {
    type Err = String;
    /// `60s`, `5m` (a duration) or a plain number of requests.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(n) = s.trim().parse::<u64>() {
            return Ok(Bound::Requests(n));
        }
        humantime::parse_duration(s.trim())
            .map(Bound::Duration)
            .map_err(|e| format!("`{s}`: {e} (e.g. 60s, or a number of requests)"))
    }
}

/// The next request a worker should send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Send one. `intended` is when the schedule meant it to start (open loop); `measured`
    /// is false during the warmup.
    Go {
        /// Intended start (open loop only).
        intended: Option<Instant>,
        /// Whether it counts.
        measured: bool,
    },
    /// The run is over.
    Stop,
}

/// The shared pacing of one run.
#[derive(Debug)]
pub struct Schedule {
    start: Instant,
    measure_from: Instant,
    mode: Mode,
    bound: Bound,
    period_ns: f64,
    warmup_slots: u64,
    next: AtomicU64,
}

impl Schedule {
    /// A schedule starting at `start` with `warmup` excluded.
    pub fn new(mode: Mode, bound: Bound, warmup: Duration, start: Instant) -> Self {
        let period_ns = match mode {
            Mode::Open { rate } => 1e9 / rate.max(1e-9),
            Mode::Closed => 0.0,
        };
        let warmup_slots = match mode {
            Mode::Open { .. } => (warmup.as_nanos() as f64 / period_ns).ceil() as u64,
            Mode::Closed => 0,
        };
        Schedule {
            start,
            measure_from: start + warmup,
            mode,
            bound,
            period_ns,
            warmup_slots,
            next: AtomicU64::new(0),
        }
    }

    /// When measurement starts (the end of the warmup).
    pub fn measure_from(&self) -> Instant {
        self.measure_from
    }

    /// When the schedule stops issuing requests: the end of the measured duration, or (open
    /// loop) the intended start of the last request. None for a closed loop counting requests.
    pub fn planned_end(&self) -> Option<Instant> {
        match (self.mode, self.bound) {
            (_, Bound::Duration(d)) => Some(self.measure_from + d),
            (Mode::Open { .. }, Bound::Requests(n)) => Some(
                self.start
                    + Duration::from_nanos(
                        ((self.warmup_slots + n) as f64 * self.period_ns).min(1e18) as u64,
                    ),
            ),
            (Mode::Closed, Bound::Requests(_)) => None,
        }
    }

    /// Open loop: the requests the schedule planned in the measured window.
    pub fn planned_measured(&self) -> Option<u64> {
        match (self.mode, self.bound) {
            (Mode::Open { .. }, Bound::Requests(n)) => Some(n),
            (Mode::Open { .. }, Bound::Duration(d)) => {
                let end_slot = ((self.measure_from + d - self.start).as_nanos() as f64
                    / self.period_ns)
                    .ceil() as u64;
                Some(end_slot.saturating_sub(self.warmup_slots))
            }
            (Mode::Closed, _) => None,
        }
    }

    /// Open loop: the requests the schedule planned in the measured window, or up to `until`
    /// when the run was stopped then (autoterm).
    pub fn planned_measured_until(&self, until: Option<Instant>) -> Option<u64> {
        let planned = self.planned_measured()?;
        let Some(until) = until else {
            return Some(planned);
        };
        let slots = (until.saturating_duration_since(self.start).as_nanos() as f64 / self.period_ns)
            .ceil() as u64;
        Some(planned.min(slots.saturating_sub(self.warmup_slots)))
    }

    /// Claims the next request (lock-free: one `fetch_add`).
    #[inline]
    pub fn next(&self, now: Instant) -> Slot {
        match self.mode {
            Mode::Closed => {
                if now < self.measure_from {
                    return Slot::Go {
                        intended: None,
                        measured: false,
                    };
                }
                let over = match self.bound {
                    Bound::Duration(d) => now >= self.measure_from + d,
                    Bound::Requests(n) => self.next.fetch_add(1, Ordering::Relaxed) >= n,
                };
                if over {
                    Slot::Stop
                } else {
                    Slot::Go {
                        intended: None,
                        measured: true,
                    }
                }
            }
            Mode::Open { .. } => {
                // Traffic stops at the planned time: slots still waiting for a free worker
                // then are never sent (they are reported as dropped), however large the
                // backlog a slow storage left.
                if self.planned_end().is_some_and(|end| now >= end) {
                    return Slot::Stop;
                }
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                let at = self.start + Duration::from_nanos((i as f64 * self.period_ns) as u64);
                let measured = i >= self.warmup_slots;
                let over = match self.bound {
                    Bound::Duration(d) => at >= self.measure_from + d,
                    Bound::Requests(n) => i >= self.warmup_slots + n,
                };
                if over {
                    Slot::Stop
                } else {
                    Slot::Go {
                        intended: Some(at),
                        measured,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_follow_their_weights() {
        let m = parse_op_mix("put=20, get=70,head=10,list=0").unwrap();
        let mut rng = Rng::new(42);
        let mut n = [0u32; 5];
        for _ in 0..100_000 {
            n[m.pick(&mut rng).index()] += 1;
        }
        assert!((n[Op::Get.index()] as i32 - 70_000).abs() < 1_500, "{n:?}");
        assert!((n[Op::Put.index()] as i32 - 20_000).abs() < 1_000, "{n:?}");
        assert_eq!(n[Op::List.index()], 0);
        let s = parse_size_mix("4KiB:50,256KiB:40,8MiB:10").unwrap();
        let spread: Vec<u64> = (0..10).map(|i| s.spread(i, 10)).collect();
        assert_eq!(spread.iter().filter(|&&x| x == 4096).count(), 5);
        assert_eq!(spread.iter().filter(|&&x| x == 8 << 20).count(), 1);
        assert!(parse_op_mix("get").is_err());
        assert!(parse_op_mix("get=0").is_err());
        assert!(parse_size("3furlongs").is_err());
        assert_eq!(parse_size_mix("256KiB").unwrap().pick(&mut rng), 256 << 10);
        for lax in ["get=70,get=30", "get=70,,put=30", "get=70,", ",get=1"] {
            assert!(parse_op_mix(lax).is_err(), "{lax}");
        }
        for lax in [
            "4KiB:50,",
            "4KiB,4KiB",
            "4KiB:1,4096:1",
            "-1",
            "99999999999GiB",
        ] {
            assert!(parse_size_mix(lax).is_err(), "{lax}");
        }
    }

    #[test]
    fn open_loop_slots_are_evenly_spaced_and_warmup_is_excluded() {
        let t0 = Instant::now();
        let s = Schedule::new(
            Mode::Open { rate: 100.0 },
            Bound::Requests(3),
            Duration::from_millis(20),
            t0,
        );
        let slots: Vec<Slot> = (0..6).map(|_| s.next(t0)).collect();
        let at = |ms| Some(t0 + Duration::from_millis(ms));
        assert_eq!(
            slots[0],
            Slot::Go {
                intended: at(0),
                measured: false
            }
        );
        assert_eq!(
            slots[1],
            Slot::Go {
                intended: at(10),
                measured: false
            }
        );
        assert_eq!(
            slots[2],
            Slot::Go {
                intended: at(20),
                measured: true
            }
        );
        assert_eq!(
            slots[4],
            Slot::Go {
                intended: at(40),
                measured: true
            }
        );
        assert_eq!(slots[5], Slot::Stop);
    }

    #[test]
    fn open_loop_stops_issuing_at_the_planned_end_whatever_the_backlog() {
        let t0 = Instant::now();
        let s = Schedule::new(
            Mode::Open { rate: 1000.0 },
            Bound::Duration(Duration::from_secs(3)),
            Duration::ZERO,
            t0,
        );
        assert_eq!(s.planned_measured(), Some(3000));
        assert_eq!(s.planned_end(), Some(t0 + Duration::from_secs(3)));
        // A worker freed late: 2,990 slots are still in the past, but the time is up.
        assert!(matches!(s.next(t0), Slot::Go { .. }));
        assert_eq!(s.next(t0 + Duration::from_secs(3)), Slot::Stop);
        let by_count = Schedule::new(
            Mode::Open { rate: 10.0 },
            Bound::Requests(5),
            Duration::ZERO,
            t0,
        );
        assert_eq!(
            by_count.planned_end(),
            Some(t0 + Duration::from_millis(500))
        );
        assert_eq!(by_count.next(t0 + Duration::from_secs(1)), Slot::Stop);
        assert_eq!(
            Schedule::new(Mode::Closed, Bound::Requests(5), Duration::ZERO, t0).planned_end(),
            None
        );
    }

    #[test]
    fn closed_loop_counts_only_measured_requests() {
        let t0 = Instant::now();
        let s = Schedule::new(Mode::Closed, Bound::Requests(2), Duration::from_secs(1), t0);
        assert_eq!(
            s.next(t0),
            Slot::Go {
                intended: None,
                measured: false
            }
        );
        let later = t0 + Duration::from_secs(2);
        assert_eq!(
            s.next(later),
            Slot::Go {
                intended: None,
                measured: true
            }
        );
        assert_eq!(
            s.next(later),
            Slot::Go {
                intended: None,
                measured: true
            }
        );
        assert_eq!(s.next(later), Slot::Stop);
        assert_eq!(
            "60s".parse::<Bound>().unwrap(),
            Bound::Duration(Duration::from_secs(60))
        );
        assert_eq!("500".parse::<Bound>().unwrap(), Bound::Requests(500));
    }
}
