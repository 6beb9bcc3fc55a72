//! What the reports for people (text, Markdown) print of the checks: checks that say the same
//! thing on one line, each fix once with the checks it fixes, and the explanations several
//! checks share once per report. The JSON report keeps every check whole; this is only how
//! it is read.
use crate::checks::{CheckResult, Status};

/// Explanations several checks append to their message or fix; a report for people prints
/// each once, as a note.
pub const SHARED_EXPLANATIONS: &[&str] = &[crate::checks::cors_rule::WHEN_IT_MATTERS];

/// Checks whose `duration_ms` is not a measurement of their own (the load verdict's is the
/// whole load run, which the load section reports).
const NOT_TIMED: &[&str] = &["load.verdict"];

/// One line of the check list: one check, or several of one family (`cors.preflight.*`)
/// that ended alike.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// The status they share.
    pub status: Status,
    /// Their ids, in run order.
    pub ids: Vec<String>,
    /// The message, without the shared explanations.
    pub message: String,
    /// How long the check took, when the line is one check and the time is its own.
    pub duration_ms: Option<u64>,
    /// Index into [`Digest::fixes`] of the fix for this line (failures and warnings only).
    pub fix: Option<usize>,
}

/// One fix and every check it fixes.
#[derive(Clone, Debug, PartialEq)]
pub struct Fix {
    /// The checks it fixes, in run order.
    pub ids: Vec<String>,
    /// The remediation, without the shared explanations.
    pub text: String,
}

/// The checks of a report, as people read them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Digest {
    /// The check list.
    pub lines: Vec<Line>,
    /// Each distinct fix once.
    pub fixes: Vec<Fix>,
    /// The shared explanations any check that did not pass carried.
    pub notes: Vec<&'static str>,
}

/// `text` without the shared explanations, and which of them it held.
fn strip(text: &str, seen: &mut Vec<&'static str>) -> String {
    let mut out = text.to_string();
    for shared in SHARED_EXPLANATIONS {
        if out.contains(shared) {
            out = out.replace(shared, "");
            if !seen.contains(shared) {
                seen.push(shared);
            }
        }
    }
    out.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// The family of a check id: `cors.preflight` of `cors.preflight.GET`.
fn family(id: &str) -> &str {
    id.rsplit_once('.').map_or(id, |(family, _)| family)
}

/// Ids written short: `cors.preflight.GET, PUT, POST, cors.actual_get`.
pub fn id_list(ids: &[String]) -> String {
    let mut out = String::new();
    let mut previous: Option<&str> = None;
    for id in ids {
        if !out.is_empty() {
            out.push_str(", ");
        }
        let fam = family(id);
        match previous {
            Some(p) if p == fam && fam != id => out.push_str(&id[fam.len() + 1..]),
            _ => out.push_str(id),
        }
        previous = Some(fam);
    }
    out
}

/// Groups the checks of a report (see the module doc).
pub fn digest(checks: &[CheckResult]) -> Digest {
    let mut digest = Digest::default();
    for check in checks {
        let explain = matches!(check.status, Status::Fail | Status::Warn | Status::Error);
        let mut seen = Vec::new();
        let message = strip(&check.message, &mut seen);
        let fix = if explain && !check.remediation.trim().is_empty() {
            let text = strip(&check.remediation, &mut seen);
            let index = match digest.fixes.iter().position(|f| f.text == text) {
                Some(i) => i,
                None => {
                    digest.fixes.push(Fix {
                        ids: Vec::new(),
                        text,
                    });
                    digest.fixes.len() - 1
                }
            };
            digest.fixes[index].ids.push(check.id.clone());
            Some(index)
        } else {
            None
        };
        if explain {
            for s in seen {
                if !digest.notes.contains(&s) {
                    digest.notes.push(s);
                }
            }
        }
        let alike = digest.lines.iter_mut().find(|l| {
            l.status == check.status
                && l.message == message
                && l.fix == fix
                && family(&l.ids[0]) == family(&check.id)
                && family(&check.id) != check.id
        });
        match alike {
            Some(line) => {
                line.ids.push(check.id.clone());
                line.duration_ms = None;
            }
            None => digest.lines.push(Line {
                status: check.status,
                ids: vec![check.id.clone()],
                message,
                duration_ms: (!NOT_TIMED.contains(&check.id.as_str())).then_some(check.duration_ms),
                fix,
            }),
        }
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::cors_rule::WHEN_IT_MATTERS;

    fn cors(method: &str, status: Status, fix: &str) -> CheckResult {
        CheckResult::new(
            &format!("cors.preflight.{method}"),
            status,
            format!("the preflight passes, but no Access-Control-Max-Age. {WHEN_IT_MATTERS}"),
        )
        .with_remediation(format!("{fix} {WHEN_IT_MATTERS}"))
    }

    #[test]
    fn one_line_and_one_fix_for_checks_that_end_alike() {
        let mut checks: Vec<_> = ["GET", "PUT", "POST", "DELETE", "HEAD"]
            .iter()
            .map(|m| cors(m, Status::Warn, "Set MaxAgeSeconds."))
            .collect();
        checks.push(
            CheckResult::new(
                "cors.actual_get",
                Status::Fail,
                format!("blocked. {WHEN_IT_MATTERS}"),
            )
            .with_remediation(format!("Set MaxAgeSeconds. {WHEN_IT_MATTERS}")),
        );
        checks.push(CheckResult::new(
            "load.verdict",
            Status::Pass,
            "fast enough",
        ));
        let d = digest(&checks);
        assert_eq!(d.lines.len(), 3, "{d:#?}");
        assert_eq!(
            id_list(&d.lines[0].ids),
            "cors.preflight.GET, PUT, POST, DELETE, HEAD"
        );
        assert_eq!(
            d.lines[0].message,
            "the preflight passes, but no Access-Control-Max-Age."
        );
        assert_eq!(d.lines[0].duration_ms, None);
        assert_eq!(d.lines[1].duration_ms, Some(0));
        assert_eq!(
            d.lines[2].duration_ms, None,
            "the verdict's time is the run's"
        );
        assert_eq!(d.fixes.len(), 1);
        assert_eq!(d.fixes[0].text, "Set MaxAgeSeconds.");
        assert_eq!(
            id_list(&d.fixes[0].ids),
            "cors.preflight.GET, PUT, POST, DELETE, HEAD, cors.actual_get"
        );
        assert_eq!(d.notes, vec![WHEN_IT_MATTERS]);
    }

    #[test]
    fn different_fixes_and_statuses_stay_apart() {
        let checks = vec![
            cors("GET", Status::Fail, "Add GET."),
            cors("PUT", Status::Fail, "Add PUT."),
            cors("POST", Status::Pass, "unused"),
        ];
        let d = digest(&checks);
        assert_eq!(d.lines.len(), 3);
        assert_eq!(d.fixes.len(), 2);
        assert_eq!(d.lines[2].fix, None);
    }

    #[test]
    fn passes_carry_no_note() {
        let d = digest(&[cors("GET", Status::Pass, "x")]);
        assert!(d.notes.is_empty());
        assert!(d.fixes.is_empty());
    }
}
