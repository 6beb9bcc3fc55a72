//! What an Azure SAS token grants, read from its query (`sp`, `se`, `st`, `sr`, `ss`, `srt`),
//! against what a load run needs: an expired, not-yet-valid or under-privileged token is named
//! before the run starts, not discovered as a page of 403s.
use chrono::{DateTime, Utc};

use super::request::Op;

/// The grant a SAS token carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SasGrant {
    /// `sp`: permission letters (`r` read, `a` add, `c` create, `w` write, `d` delete,
    /// `l` list, ...).
    pub permissions: String,
    /// `se`: when it stops working.
    pub expiry: Option<DateTime<Utc>>,
    /// `st`: when it starts working.
    pub start: Option<DateTime<Utc>>,
    /// Service SAS (`sr`) or account SAS (`ss`, `srt`).
    pub scope: SasScope,
}

/// What the token is scoped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SasScope {
    /// Service SAS: `sr=c` container, `sr=b` one blob, `sr=d` a directory, ...
    Service(String),
    /// Account SAS: `ss` services, `srt` resource types (`s` service, `c` container,
    /// `o` object).
    Account {
        /// `ss`.
        services: String,
        /// `srt`.
        resource_types: String,
    },
}

/// A need the token does not meet: what is missing, and why the run needs it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct SasProblem {
    /// What is wrong, in words (no secret: the signature is never quoted).
    pub problem: String,
    /// Which command-line flag asked for it, when one did (e.g. `--mix`).
    pub flag: Option<&'static str>,
}

fn problem(problem: String, flag: Option<&'static str>) -> SasProblem {
    SasProblem { problem, flag }
}

/// What a run does with the container.
#[derive(Clone, Debug, Default)]
pub struct RunNeeds {
    /// Operations in the mix.
    pub ops: Vec<Op>,
    /// Whether objects are written before measuring (the GET set).
    pub prepares: bool,
    /// Whether an existing prefix is listed to find the objects to read.
    pub discovers: bool,
    /// When the run is planned to end (duration-bound runs); a token must outlive it.
    pub ends_by: Option<DateTime<Utc>>,
}

impl SasGrant {
    /// Reads a SAS query (with or without `?`). Fails when it is not a SAS token at all.
    pub fn parse(query: &str) -> Result<SasGrant, SasProblem> {
        let mut sp = None;
        let (mut se, mut st, mut sr, mut ss, mut srt, mut sig) =
            (None, None, None, None, None, false);
        for (k, v) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            let v = v.into_owned();
            match k.as_ref() {
                "sp" => sp = Some(v),
                "se" => se = Some(time("se", &v)?),
                "st" => st = Some(time("st", &v)?),
                "sr" => sr = Some(v),
                "ss" => ss = Some(v),
                "srt" => srt = Some(v),
                "sig" => sig = true,
                _ => {}
            }
        }
        if !sig {
            return Err(problem(
                "it has no signature (`sig`): it is not a SAS token; copy the whole query \
                 string the portal or `az storage container generate-sas` prints"
                    .into(),
                None,
            ));
        }
        let scope = match (sr, ss, srt) {
            (Some(sr), _, _) => SasScope::Service(sr),
            (None, Some(services), Some(resource_types)) => SasScope::Account {
                services,
                resource_types,
            },
            _ => {
                return Err(problem(
                    "it has neither `sr` (a service SAS) nor `ss` and `srt` (an account SAS)"
                        .into(),
                    None,
                ));
            }
        };
        Ok(SasGrant {
            permissions: sp.unwrap_or_default(),
            expiry: se,
            start: st,
            scope,
        })
    }

    fn has(&self, letter: char) -> bool {
        self.permissions.contains(letter)
    }

    /// Checks the token against what the run does, at `now`: the first unmet need.
    pub fn check(&self, needs: &RunNeeds, now: DateTime<Utc>) -> Result<(), SasProblem> {
        let when = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        if let Some(se) = self.expiry {
            if se <= now {
                return Err(problem(format!("it expired at {} (se)", when(se)), None));
            }
            if let Some(end) = needs.ends_by.filter(|end| se < *end) {
                return Err(problem(
                    format!(
                        "it expires at {} (se), before the run ends (about {})",
                        when(se),
                        when(end)
                    ),
                    Some("--duration"),
                ));
            }
        }
        if let Some(st) = self.start.filter(|st| *st > now) {
            return Err(problem(
                format!("it is not valid before {} (st)", when(st)),
                None,
            ));
        }
        let object_ops = needs.ops.iter().any(|op| *op != Op::List) || needs.prepares;
        let lists = needs.ops.contains(&Op::List) || needs.discovers;
        match &self.scope {
            SasScope::Service(sr) if sr != "c" => {
                return Err(problem(
                    format!(
                        "it is scoped to one {} (sr={sr}); a load run reads and writes many \
                         blobs: make a container SAS (sr=c) or an account SAS",
                        match sr.as_str() {
                            "b" | "bs" | "bv" => "blob",
                            "d" => "directory",
                            _ => "resource",
                        }
                    ),
                    None,
                ));
            }
            SasScope::Service(_) => {}
            SasScope::Account {
                services,
                resource_types,
            } => {
                if !services.contains('b') {
                    return Err(problem(
                        format!("it is an account SAS without the Blob service (ss={services})"),
                        None,
                    ));
                }
                if object_ops && !resource_types.contains('o') {
                    return Err(problem(
                        format!(
                            "it is an account SAS without object access (srt={resource_types} \
                             has no `o`)"
                        ),
                        None,
                    ));
                }
                if lists && !resource_types.contains('c') {
                    return Err(problem(
                        format!(
                            "it is an account SAS without container access (srt={resource_types} \
                             has no `c`), which List Blobs needs"
                        ),
                        Some("--mix"),
                    ));
                }
            }
        }
        let sp = &self.permissions;
        let missing = |letter: char, what: &str, flag| {
            problem(
                format!("it lacks `{letter}` ({what}) in its permissions (sp={sp})"),
                flag,
            )
        };
        for op in &needs.ops {
            let (letter, what) = match op {
                Op::Get => ('r', "read, which the mix's GET needs"),
                Op::Head => ('r', "read, which the mix's HEAD needs"),
                Op::Put => (
                    'w',
                    "write, which the mix's PUT needs to overwrite its keys",
                ),
                Op::List => ('l', "list, which the mix's LIST needs"),
                Op::Delete => ('d', "delete, which the mix's DELETE needs"),
            };
            if !self.has(letter) {
                return Err(missing(letter, what, Some("--mix")));
            }
        }
        if needs.discovers && !self.has('l') {
            return Err(missing(
                'l',
                "list, which --existing-prefix needs to find the objects to read",
                Some("--existing-prefix"),
            ));
        }
        if needs.prepares && !(self.has('c') || self.has('w')) {
            return Err(missing(
                'c',
                "create or write, which writing the objects the mix reads needs",
                Some("--mix"),
            ));
        }
        let writes = needs.prepares || needs.ops.contains(&Op::Put);
        if writes && !self.has('d') {
            return Err(missing(
                'd',
                "delete, which cleanup needs to remove the objects the run writes",
                None,
            ));
        }
        Ok(())
    }
}

fn time(field: &str, v: &str) -> Result<DateTime<Utc>, SasProblem> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    // Azure also accepts a date alone, and a time without seconds.
    for format in ["%Y-%m-%dT%H:%MZ", "%Y-%m-%d"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, format) {
            return Ok(t.and_utc());
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(v, format) {
            return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
        }
    }
    Err(problem(
        format!("its `{field}` ({v}) is not a UTC time such as 2030-01-01T00:00:00Z"),
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn needs(ops: &[Op], prepares: bool) -> RunNeeds {
        RunNeeds {
            ops: ops.to_vec(),
            prepares,
            ..Default::default()
        }
    }

    const NOW: &str = "2026-11-30T12:00:00Z";

    fn check(q: &str, n: &RunNeeds) -> Result<(), SasProblem> {
        SasGrant::parse(q)?.check(n, at(NOW))
    }

    #[test]
    fn a_full_container_token_passes_every_mix() {
        let q = "?sv=2022-11-02&sr=c&sp=racwdl&st=2026-11-30T11%3A00%3A00Z&se=2026-12-01T00%3A00%3A00Z&sig=x";
        let all = needs(&Op::ALL, true);
        assert_eq!(check(q, &all), Ok(()));
        let g = SasGrant::parse(q).unwrap();
        assert_eq!(g.scope, SasScope::Service("c".into()));
        assert_eq!(g.expiry, Some(at("2026-12-01T00:00:00Z")));
    }

    #[test]
    fn each_missing_permission_is_named_with_its_flag() {
        for (sp, ops, prepares, letter, flag) in [
            ("wdl", &[Op::Get][..], true, 'r', Some("--mix")),
            ("rwd", &[Op::Get, Op::List][..], true, 'l', Some("--mix")),
            ("rcd", &[Op::Get, Op::Put][..], true, 'w', Some("--mix")),
            ("rw", &[Op::Get][..], true, 'd', None),
            ("r", &[Op::Get][..], true, 'c', Some("--mix")),
            ("rwl", &[Op::Delete][..], false, 'd', Some("--mix")),
        ] {
            let q = format!("sv=2022-11-02&sr=c&sp={sp}&se=2027-01-01&sig=x");
            let e = check(&q, &needs(ops, prepares)).unwrap_err();
            assert!(
                e.problem.contains(&format!("lacks `{letter}`")),
                "{sp}: {e}"
            );
            assert_eq!(e.flag, flag, "{sp}");
            assert!(!e.problem.contains("sig"), "never quotes the signature");
        }
        let read_only = "sv=2022-11-02&sr=c&sp=rl&se=2027-01-01&sig=x";
        let existing = RunNeeds {
            ops: vec![Op::Get, Op::Head],
            discovers: true,
            ..Default::default()
        };
        assert_eq!(
            check(read_only, &existing),
            Ok(()),
            "reads an existing prefix"
        );
    }

    #[test]
    fn time_and_scope_problems() {
        let e = check(
            "sr=c&sp=racwdl&se=2026-11-30T11:59:00Z&sig=x",
            &needs(&[Op::Get], false),
        )
        .unwrap_err();
        assert!(e.problem.contains("expired at 2026-11-30T11:59:00Z"), "{e}");
        let e = check(
            "sr=c&sp=racwdl&st=2026-11-30T13:00Z&sig=x",
            &needs(&[Op::Get], false),
        )
        .unwrap_err();
        assert!(e.problem.contains("not valid before"), "{e}");
        let mut n = needs(&[Op::Get], false);
        n.ends_by = Some(at("2026-11-30T13:00:00Z"));
        let e = check("sr=c&sp=r&se=2026-11-30T12:30:00Z&sig=x", &n).unwrap_err();
        assert_eq!(e.flag, Some("--duration"));
        let e = check("sr=b&sp=racwdl&sig=x", &needs(&[Op::Get], false)).unwrap_err();
        assert!(e.problem.contains("sr=c"), "{e}");
        let account = "ss=b&srt=o&sp=racwdl&sig=x";
        assert_eq!(check(account, &needs(&[Op::Get, Op::Put], true)), Ok(()));
        let e = check(account, &needs(&[Op::List], false)).unwrap_err();
        assert!(e.problem.contains("srt=o"), "{e}");
        let e = check("ss=q&srt=sco&sp=r&sig=x", &needs(&[Op::Get], false)).unwrap_err();
        assert!(e.problem.contains("Blob service"), "{e}");
        assert!(SasGrant::parse("sp=r&sr=c").is_err(), "no signature");
        assert!(SasGrant::parse("sig=x&sp=r").is_err(), "no scope");
        assert!(SasGrant::parse("sig=x&sr=c&se=tomorrow").is_err());
    }
}
