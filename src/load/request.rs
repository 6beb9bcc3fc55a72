//! The lean request path: what every provider's request builder shares.
//!
//! A builder ([`OpRequest`]) turns one operation ([`OpCall`]) into a signed
//! `http::Request` without touching the network. S3 SigV4 lives in
//! [`super::sigv4`], Azure SharedKey in [`super::sharedkey`]. What does not change per request
//! (encoded object paths, payload digests, derived signing keys) is computed once.
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderValue;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The body of every request on the lean path: shared bytes, written as they are.
#[derive(Clone, Debug, Default)]
pub struct Body(pub Bytes);

impl Body {
    /// A body of `bytes` (a clone of shared bytes: no copy).
    pub fn new(bytes: Bytes) -> Self {
        Body(bytes)
    }
}

/// A storage operation the load runner measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Upload one object (S3 PutObject, Azure Put Blob).
    Put,
    /// Read one object (S3 GetObject, Azure Get Blob).
    Get,
    /// Read one object's metadata (S3 HeadObject, Azure Get Blob Properties).
    Head,
    /// List under a prefix (S3 ListObjectsV2, Azure List Blobs).
    List,
    /// Delete one object with a single DELETE (what Label Studio sends).
    Delete,
}

impl Op {
    /// Every operation, in index order.
    pub const ALL: [Op; 5] = [Op::Put, Op::Get, Op::Head, Op::List, Op::Delete];

    /// A dense index (0..5) for per-operation arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::Head => "head",
            Op::List => "list",
            Op::Delete => "delete",
        }
    }

    /// Whether the operation changes the bucket (forbidden with an existing prefix).
    pub fn writes(self) -> bool {
        matches!(self, Op::Put | Op::Delete)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Op {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Op::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown operation `{s}`: use put, get, head, list or delete"))
    }
}

/// An object key and the request path that reaches it, encoded once and then shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectPath {
    /// The key as stored in the bucket (may hold spaces and any Unicode).
    pub key: Arc<str>,
    /// The encoded path: `/<bucket>/<key, each segment URI-encoded>` (plus any endpoint path).
    pub path: Bytes,
}

impl ObjectPath {
    /// The path of `key` under `base` (a bucket or container path).
    pub fn under(base: &str, key: &str) -> Self {
        let mut s = String::with_capacity(base.len() + key.len() * 3 + 1);
        s.push_str(base);
        s.push('/');
        uri_encode(key, true, &mut s);
        ObjectPath {
            key: key.into(),
            path: Bytes::from(s),
        }
    }
}

/// A request body generated once and shared by every PUT of that size (no per-request copy).
#[derive(Clone, Debug)]
pub struct Payload {
    /// The bytes sent.
    pub bytes: Bytes,
    /// Hex SHA-256 of `bytes`, as the `x-amz-content-sha256` header value.
    pub sha256: HeaderValue,
    /// `bytes.len()` as a header value.
    pub content_length: HeaderValue,
}

impl Payload {
    /// A pseudo-random (incompressible) body of `size` bytes; the same seed gives the same body.
    pub fn generate(size: usize, seed: u64) -> Self {
        let mut rng = crate::load::schedule::Rng::new(seed);
        let mut v = Vec::with_capacity(size + 8);
        while v.len() < size {
            v.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        v.truncate(size);
        Self::from_bytes(Bytes::from(v))
    }

    /// Wraps existing bytes, computing the digest once.
    pub fn from_bytes(bytes: Bytes) -> Self {
        let digest = Sha256::digest(&bytes);
        let mut hex = [0u8; 64];
        hex_into(&digest, &mut hex);
        Payload {
            sha256: HeaderValue::from_bytes(&hex).expect("hex is a valid header"),
            content_length: HeaderValue::from(bytes.len()),
            bytes,
        }
    }
}

/// One operation to turn into a request.
#[derive(Clone, Copy, Debug)]
pub enum OpCall<'a> {
    /// Upload `body` to `path`.
    Put {
        /// Where.
        path: &'a ObjectPath,
        /// What.
        body: &'a Payload,
    },
    /// Read `path`.
    Get(&'a ObjectPath),
    /// Read the metadata of `path`.
    Head(&'a ObjectPath),
    /// Delete `path`.
    Delete(&'a ObjectPath),
    /// List keys under `prefix`, at most `max_keys`, from `continuation` (S3
    /// marker, Azure marker) when given.
    List {
        /// Key prefix.
        prefix: &'a str,
        /// Page size.
        max_keys: u32,
        /// Where the previous page ended.
        continuation: Option<&'a str>,
    },
}

impl OpCall<'_> {
    /// The operation.
    pub fn op(&self) -> Op {
        match self {
            OpCall::Put { .. } => Op::Put,
            OpCall::Get(_) => Op::Get,
            OpCall::Head(_) => Op::Head,
            OpCall::Delete(_) => Op::Delete,
            OpCall::List { .. } => Op::List,
        }
    }
}

/// Builds signed requests for one bucket. Each worker owns a clone: `build` takes `&mut self`
/// so per-day signing state is cached without any lock.
pub trait OpRequest: Clone + Send + Sync + 'static {
    /// Encodes `key` into the request path once (keep and reuse the result).
    fn object_path(&self, key: &str) -> ObjectPath;
    /// The signed request for `call`, dated `now`. The URI is origin-form (path and query);
    /// the `Host` header is set.
    fn build(&mut self, call: &OpCall<'_>, now: SystemTime) -> http::Request<Body>;
    /// What `build` at `now` depends on besides the call: for equal stamps, `build` gives
    /// byte-identical requests for the same call (so a worker may send them again).
    fn stamp(&self, now: SystemTime) -> super::head_cache::Stamp;
    /// The endpoint requests go to.
    fn endpoint(&self) -> &Arc<super::connection::Endpoint>;
    /// Parses one page of a List response: (key, size) pairs and the continuation, if any.
    fn parse_list(&self, body: &[u8]) -> Result<ListPage, String>;
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Keys and sizes in bytes.
    pub objects: Vec<(String, u64)>,
    /// Where the next page starts, if the listing is truncated.
    pub continuation: Option<String>,
}

/// Percent-encodes `s` into `out` keeping only `A-Z a-z 0-9 - . _ ~` (and `/` when
/// `keep_slash`), uppercase hex: SigV4's URI encoding, also what Azure accepts.
pub fn uri_encode(s: &str, keep_slash: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// Lowercase hex of `bytes` into `out` (which must be twice as long).
pub fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
}

/// Seconds since the Unix epoch (0 before it).
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn put2(out: &mut [u8], v: u32) {
    out[0] = b'0' + (v / 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

fn put4(out: &mut [u8], v: i64) {
    let v = v.clamp(0, 9999) as u32;
    put2(&mut out[0..2], v / 100);
    put2(&mut out[2..4], v % 100);
}

/// `YYYYMMDDTHHMMSSZ` (SigV4's `x-amz-date`) for `secs` since the epoch, without allocating.
pub fn amz_date(secs: u64) -> [u8; 16] {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = (secs % 86_400) as u32;
    let mut out = *b"00000000T000000Z";
    put4(&mut out[0..4], y);
    put2(&mut out[4..6], m);
    put2(&mut out[6..8], d);
    put2(&mut out[9..11], s / 3600);
    put2(&mut out[11..13], s / 60 % 60);
    put2(&mut out[13..15], s % 60);
    out
}

/// RFC 1123 date (`Sun, 06 Nov 1994 08:49:37 GMT`, Azure's `Date`) without allocating.
pub fn http_date(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = (secs / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    let s = (secs % 86_400) as u32;
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[0..3].copy_from_slice(DAYS[(days % 7) as usize]);
    put2(&mut out[5..7], d);
    out[8..11].copy_from_slice(MONTHS[(m - 1) as usize]);
    put4(&mut out[12..16], y);
    put2(&mut out[17..19], s / 3600);
    put2(&mut out[20..22], s / 60 % 60);
    put2(&mut out[23..25], s % 60);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn dates_match_chrono() {
        for secs in [
            0u64,
            951_782_400,
            1_700_000_000,
            1_795_000_000,
            4_102_444_799,
        ] {
            let t = Utc.timestamp_opt(secs as i64, 0).unwrap();
            let amz = t.format("%Y%m%dT%H%M%SZ").to_string();
            assert_eq!(std::str::from_utf8(&amz_date(secs)).unwrap(), amz);
            let rfc = t.format("%a, %d %h %Y %T GMT").to_string();
            assert_eq!(std::str::from_utf8(&http_date(secs)).unwrap(), rfc);
        }
    }

    #[test]
    fn encodes_like_sigv4() {
        let mut s = String::new();
        uri_encode("media/a b/ü+x=1&~.txt", true, &mut s);
        assert_eq!(s, "media/a%20b/%C3%BC%2Bx%3D1%26~.txt");
        s.clear();
        uri_encode("a/b", false, &mut s);
        assert_eq!(s, "a%2Fb");
    }

    #[test]
    fn ops_parse() {
        assert_eq!("GET".parse::<Op>().unwrap(), Op::Get);
        assert!("copy".parse::<Op>().is_err());
    }

    #[test]
    fn payload_digest_is_sha256() {
        let p = Payload::from_bytes(Bytes::from_static(b""));
        assert_eq!(
            p.sha256.to_str().unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            Payload::generate(1000, 7).bytes,
            Payload::generate(1000, 7).bytes
        );
        assert_eq!(Payload::generate(1000, 7).bytes.len(), 1000);
    }
}
