//! Sharding: N copies of `lsprobe load` (on N machines, or the pods of a Kubernetes Indexed
//! Job) that together make one run. Copy I of N (0-based, like `JOB_COMPLETION_INDEX`) gets
//! its share of `--requests` (the remainder to the first copies), of `--objects` and of
//! `--rate` (rate / N), a run prefix of its own (so no two copies read or write the same key)
//! and its own cleanup; `lsprobe report merge` checks that the copies are shards 0..N-1 of one
//! run, each once.
use std::fmt;

use serde::{Deserialize, Serialize};

/// The variable Kubernetes sets to the pod's index in an Indexed Job.
pub const INDEX_VAR: &str = "JOB_COMPLETION_INDEX";
/// The number of shards when the index comes from [`INDEX_VAR`] (set it to the Job's
/// `completions`).
pub const COUNT_VAR: &str = "LSPROBE_SHARD_COUNT";
/// The most shards of one run.
pub const MAX_SHARDS: u32 = 10_000;

/// Which copy of a sharded run this is: `index` of `count`, 0-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based, below `count`.
    pub index: u32,
    /// How many copies make the run.
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

fn number(what: &str, s: &str) -> Result<u32, String> {
    s.trim()
        .parse::<u32>()
        .map_err(|_| format!("{what} `{s}` is not a whole number"))
}

impl Shard {
    /// Checks `index` < `count`, 1 ≤ `count` ≤ [`MAX_SHARDS`].
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!("the shard count {count} must be 1 to {MAX_SHARDS}"));
        }
        if index >= count {
            return Err(format!(
                "the shard index {index} must be below the count {count} (indexes are \
                 0-based: 0 to {})",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// `I/N`, e.g. `0/3`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: write INDEX/COUNT, 0-based, e.g. 0/3"))?;
        Shard::new(number("the index", i)?, number("the count", n)?)
    }

    /// The shard asked for: `--shard` when given (`flag`), else [`INDEX_VAR`] with
    /// [`COUNT_VAR`] from `env`, else none. Errors name the flag or variable.
    pub fn resolve(
        flag: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        if let Some(s) = flag {
            return Shard::parse(s)
                .map(Some)
                .map_err(|e| format!("--shard {e}"));
        }
        match (env(INDEX_VAR), env(COUNT_VAR)) {
            (None, None) => Ok(None),
            (Some(i), Some(n)) => {
                let index = number("the index", &i).map_err(|e| format!("{INDEX_VAR}: {e}"))?;
                let count = number("the count", &n).map_err(|e| format!("{COUNT_VAR}: {e}"))?;
                Shard::new(index, count)
                    .map(Some)
                    .map_err(|e| format!("{INDEX_VAR}={i} with {COUNT_VAR}={n}: {e}"))
            }
            // N unsharded copies merged afterwards, as before sharding existed.
            (Some(_), None) => Ok(None),
            (None, Some(n)) => Err(format!(
                "{COUNT_VAR}={n} is set but {INDEX_VAR} is not: give --shard I/N, or run in an \
                 Indexed Job"
            )),
        }
    }

    /// A warning when [`INDEX_VAR`] is set without [`COUNT_VAR`] nor `--shard`: the copy runs
    /// unsharded (the whole plan), which may not be what the Job meant.
    pub fn unsharded_warning(
        flag: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Option<String> {
        match (flag, env(INDEX_VAR), env(COUNT_VAR)) {
            (None, Some(i), None) => Some(format!(
                "{INDEX_VAR}={i} is set but {COUNT_VAR} is not: this copy runs the whole plan, \
                 unsharded; set {COUNT_VAR} to the Job's completions to split the run among \
                 the copies"
            )),
            _ => None,
        }
    }

    /// This shard's part of `total`: `total / count`, plus one for the first `total % count`
    /// shards (the parts add up to `total` exactly).
    pub fn part(&self, total: u64) -> u64 {
        let n = u64::from(self.count);
        total / n + u64::from(u64::from(self.index) < total % n)
    }

    /// Whether item `i` of a list every shard sees in the same order is this shard's
    /// (every `count`-th, from `index`).
    pub fn owns(&self, i: usize) -> bool {
        i % self.count as usize == self.index as usize
    }

    /// This shard's items of a list every shard sees in the same order (see [`Shard::owns`]).
    pub fn own<T>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.owns(*i))
            .map(|(_, t)| t)
            .collect()
    }

    /// A seed of this shard's own, from the run's.
    pub fn seed(&self, seed: u64) -> u64 {
        seed ^ (u64::from(self.index) + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93)
    }

    /// The suffix of this shard's run id, e.g. `shard0of3`.
    pub fn run_suffix(&self) -> String {
        format!("shard{}of{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn parts_add_up_with_the_remainder_to_the_first_shards() {
        for (total, n) in [(10u64, 3u32), (2, 3), (3, 3), (1_000_003, 7), (0, 2)] {
            let parts: Vec<u64> = (0..n)
                .map(|i| Shard::new(i, n).unwrap().part(total))
                .collect();
            assert_eq!(parts.iter().sum::<u64>(), total, "{total}/{n}: {parts:?}");
            assert!(parts.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
        }
        let s = |i| Shard::new(i, 3).unwrap();
        assert_eq!((s(0).part(10), s(1).part(10), s(2).part(10)), (4, 3, 3));
        let owned: Vec<Vec<usize>> = (0..3)
            .map(|i| (0..7).filter(|&k| s(i).owns(k)).collect())
            .collect();
        assert_eq!(owned, vec![vec![0, 3, 6], vec![1, 4], vec![2, 5]]);
        assert_ne!(s(0).seed(1), s(1).seed(1));
        // Every item once, in one shard only.
        let listed: Vec<u32> = (0..10).collect();
        let mut all: Vec<u32> = (0..3).flat_map(|i| s(i).own(listed.clone())).collect();
        all.sort_unstable();
        assert_eq!(all, listed);
        assert_eq!(s(1).own(listed), vec![1, 4, 7]);
    }

    #[test]
    fn the_flag_and_the_indexed_job_variables() {
        let none = env(&[]);
        assert_eq!(Shard::resolve(None, &none).unwrap(), None);
        assert_eq!(
            Shard::resolve(Some("2/3"), &none).unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        let job = env(&[(INDEX_VAR, "1"), (COUNT_VAR, "4")]);
        assert_eq!(
            Shard::resolve(None, &job).unwrap(),
            Some(Shard { index: 1, count: 4 })
        );
        // The flag wins over the environment.
        assert_eq!(
            Shard::resolve(Some("0/2"), &job).unwrap(),
            Some(Shard { index: 0, count: 2 })
        );
        for (flag, vars, says) in [
            (Some("3/2"), &[][..], "--shard"),
            (Some("0/0"), &[][..], "--shard"),
            (Some("x"), &[][..], "--shard"),
            (Some("a/3"), &[][..], "--shard"),
            (Some("-1/3"), &[][..], "--shard"),
            (None, &[(INDEX_VAR, "one"), (COUNT_VAR, "3")][..], INDEX_VAR),
            (
                None,
                &[(INDEX_VAR, "0"), (COUNT_VAR, "three")][..],
                COUNT_VAR,
            ),
            (
                None,
                &[(INDEX_VAR, "3"), (COUNT_VAR, "3")][..],
                "below the count",
            ),
            (None, &[(COUNT_VAR, "3")][..], INDEX_VAR),
        ] {
            let e = Shard::resolve(flag, env(vars)).unwrap_err();
            assert!(e.contains(says), "{flag:?} {vars:?}: {e}");
        }
        assert_eq!(Shard { index: 0, count: 3 }.to_string(), "0/3");
        // An index alone: N unsharded copies, with a warning.
        let alone = env(&[(INDEX_VAR, "0")]);
        assert_eq!(Shard::resolve(None, &alone).unwrap(), None);
        assert!(
            Shard::unsharded_warning(None, &alone)
                .unwrap()
                .contains(COUNT_VAR)
        );
        assert!(Shard::unsharded_warning(Some("0/2"), &alone).is_none());
        assert!(Shard::unsharded_warning(None, &job).is_none());
    }
}
