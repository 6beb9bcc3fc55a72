//! Encoded read requests, kept by a worker while they stay valid.
//!
//! A signed GET or HEAD of one object is the same bytes for as long as its [`Stamp`] holds
//! (SigV4 and SharedKey sign the second, a bearer changes only when the token is swapped), so
//! a worker that reads the same object again within that second sends the bytes it built
//! before instead of signing them anew. The bytes are what building would give: a new second
//! or new credentials give a new stamp, and the request is built again.
//!
//! Direct-mapped by read-set index, allocated on first use; each worker keeps at most
//! [`HeadCache::slots_for`] entries (all of the default 100-object set at 16 workers, a handful
//! at 4096), so memory stays bounded by about 16k request heads per run.
use http::Method;

use super::request::Op;

/// What a built request depends on besides the call: equal stamps, equal bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The signing second (0 when requests do not carry the time).
    pub secs: u64,
    /// The credentials' generation (bumped by every swap).
    pub generation: u64,
}

/// Entries a run may keep across all its workers.
const RUN_BUDGET: usize = 16 << 10;
/// Entries one worker may keep.
const WORKER_MAX: usize = 128;

struct Entry {
    index: usize,
    op: Op,
    stamp: Stamp,
    method: Method,
    bytes: Vec<u8>,
}

/// One worker's encoded reads.
pub(crate) struct HeadCache {
    slots: Vec<Option<Entry>>,
}

impl HeadCache {
    /// How many entries each of `workers` workers keeps for a read set of `reads` objects.
    pub fn slots_for(reads: usize, workers: usize) -> usize {
        (RUN_BUDGET / workers.max(1))
            .clamp(1, WORKER_MAX)
            .min(reads)
    }

    /// A cache of `slots` entries (0: keeps nothing).
    pub fn new(slots: usize) -> Self {
        HeadCache {
            slots: (0..slots).map(|_| None).collect(),
        }
    }

    /// The request built for (`index`, `op`) under `stamp`, and its method, if kept.
    pub fn get(&self, index: usize, op: Op, stamp: Stamp) -> Option<(&Method, &[u8])> {
        let slot = self.slots.get(index % self.slots.len().max(1))?.as_ref()?;
        (slot.index == index && slot.op == op && slot.stamp == stamp)
            .then_some((&slot.method, slot.bytes.as_slice()))
    }

    /// Keeps `bytes` (the encoded request for (`index`, `op`) under `stamp`), replacing what
    /// its slot held; returns them as kept. Without slots, keeps nothing.
    pub fn put(
        &mut self,
        index: usize,
        op: Op,
        stamp: Stamp,
        method: Method,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Option<(&Method, &[u8])> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let slot = &mut self.slots[index % n];
        let mut bytes = slot.take().map(|e| e.bytes).unwrap_or_default();
        bytes.clear();
        encode(&mut bytes);
        let entry = slot.insert(Entry {
            index,
            op,
            stamp,
            method,
            bytes,
        });
        Some((&entry.method, entry.bytes.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(secs: u64, generation: u64) -> Stamp {
        Stamp { secs, generation }
    }

    #[test]
    fn an_entry_holds_only_for_its_object_operation_and_stamp() {
        let mut c = HeadCache::new(4);
        let put = |c: &mut HeadCache, i, op, s, b: &'static [u8]| {
            c.put(i, op, s, Method::GET, |v| v.extend_from_slice(b))
                .map(|(_, b)| b.to_vec())
        };
        assert_eq!(
            put(&mut c, 1, Op::Get, stamp(10, 0), b"a"),
            Some(b"a".to_vec())
        );
        assert_eq!(c.get(1, Op::Get, stamp(10, 0)).unwrap().1, b"a");
        assert!(c.get(1, Op::Get, stamp(11, 0)).is_none(), "a new second");
        assert!(c.get(1, Op::Get, stamp(10, 1)).is_none(), "new credentials");
        assert!(
            c.get(1, Op::Head, stamp(10, 0)).is_none(),
            "another operation"
        );
        // Index 5 shares index 1's slot: it replaces it.
        put(&mut c, 5, Op::Get, stamp(10, 0), b"b");
        assert!(c.get(1, Op::Get, stamp(10, 0)).is_none());
        assert_eq!(c.get(5, Op::Get, stamp(10, 0)).unwrap().1, b"b");
    }

    #[test]
    fn no_slots_keep_nothing_and_the_budget_bounds_a_run() {
        let mut c = HeadCache::new(0);
        assert!(
            c.put(0, Op::Get, stamp(1, 0), Method::GET, |_| {})
                .is_none()
        );
        assert!(c.get(0, Op::Get, stamp(1, 0)).is_none());
        assert_eq!(HeadCache::slots_for(100, 16), 100);
        assert_eq!(HeadCache::slots_for(1_000, 16), WORKER_MAX);
        assert_eq!(HeadCache::slots_for(1_000, 4096), 4);
        assert_eq!(HeadCache::slots_for(0, 16), 0);
        assert!(HeadCache::slots_for(100_000, 4096) * 4096 <= RUN_BUDGET);
    }

    /// The promise the cache relies on, for every builder: equal stamps give the same bytes,
    /// and what changes the bytes (the second, swapped credentials) changes the stamp.
    #[test]
    fn every_builder_gives_the_same_bytes_under_one_stamp() {
        use std::sync::Arc;
        use std::time::{Duration, SystemTime};

        use crate::config::Secret;
        use crate::load::connection::Endpoint;
        use crate::load::gcs::{GcsConfig, GcsRequests};
        use crate::load::request::{OpCall, OpRequest};
        use crate::load::sharedkey::{AzureConfig, AzureRequests};
        use crate::load::sigv4::{S3Config, S3Requests};
        use crate::load::wire::encode_request;

        fn check<R: OpRequest>(mut r: R, dated: bool, swap: impl Fn(&R)) {
            let p = r.object_path("media/a b.jpg");
            let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_050);
            let later = t + Duration::from_millis(900);
            let next = t + Duration::from_secs(1);
            let bytes = |r: &mut R, call: &OpCall<'_>, at| {
                let mut v = Vec::new();
                encode_request(&r.build(call, at), &mut v);
                v
            };
            for call in [OpCall::Get(&p), OpCall::Head(&p)] {
                assert_eq!(r.stamp(t), r.stamp(later));
                assert_eq!(bytes(&mut r, &call, t), bytes(&mut r, &call, later));
                let differs = bytes(&mut r, &call, t) != bytes(&mut r, &call, next);
                assert_eq!(differs, dated, "a new second changes dated requests only");
                assert_eq!(r.stamp(t) != r.stamp(next), dated);
            }
            let before = (r.stamp(t), bytes(&mut r, &OpCall::Get(&p), t));
            swap(&r);
            let after = (r.stamp(t), bytes(&mut r, &OpCall::Get(&p), t));
            assert_eq!(before.0 == after.0, before.1 == after.1, "swap: {after:?}");
        }
        let endpoint = |url: &str| Arc::new(Endpoint::parse(url).unwrap());
        let s3 = S3Requests::new(S3Config {
            endpoint: endpoint("http://127.0.0.1:9000"),
            bucket: "bkt".into(),
            region: "us-east-1".into(),
            access_key_id: Secret::new("AKIDEXAMPLE"),
            secret_access_key: Secret::new("secret"),
            session_token: None,
        });
        check(s3, true, |r| {
            r.swap_credentials(Secret::new("ASIA2"), Secret::new("s2"), None)
        });
        let azure = AzureRequests::new(AzureConfig {
            endpoint: endpoint("http://127.0.0.1:10000/acct"),
            account: "acct".into(),
            container: "ctr".into(),
            access_key: Secret::new("a2V5"),
        })
        .unwrap();
        check(azure, true, |_| {});
        let sas = AzureRequests::with_sas(
            endpoint("http://127.0.0.1:10000/acct"),
            "acct".into(),
            "ctr",
            Secret::new("sv=2022-11-02&sp=r&sig=x"),
        );
        check(sas, true, |_| {});
        let gcs = GcsRequests::new(
            GcsConfig {
                endpoint: endpoint("http://127.0.0.1:4443"),
                bucket: "bkt".into(),
            },
            Some(&Secret::new("ya29.one")),
        )
        .unwrap();
        check(gcs, false, |r| {
            r.swap_token(&Secret::new("ya29.two")).unwrap()
        });
    }
}
