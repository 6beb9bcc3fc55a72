//! JUnit XML for CI systems: one `<testsuite name="lsprobe">`, one `<testcase>` per check.
//! A failed assertion (`fail`) is a `<failure>`, a check that could not run (`error`) an
//! `<error>` (as hurl does), `skip` is `<skipped/>`, and a warning passes with the warning in
//! `<system-out>`.
use std::fmt::Write as _;

use super::{Exporter, RunReport};
use crate::checks::{CheckResult, Status};

/// JUnit XML.
#[derive(Clone, Copy, Debug, Default)]
pub struct JunitExporter;

/// Element text: characters XML 1.0 cannot hold become U+FFFD, `<`, `>` and `&` are escaped,
/// and `\r` is a character reference (parsers would turn a literal one into `\n`).
fn xml_text(text: &str) -> String {
    quick_xml::escape::partial_escape(xml_chars(text).as_str()).replace('\r', "&#13;")
}

/// The text with characters XML 1.0 cannot hold, even escaped, replaced by U+FFFD.
fn xml_chars(text: &str) -> String {
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
    text.chars()
        .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
        .collect()
}

/// An attribute value: quotes escaped too, and line breaks and tabs as character references
/// so that attribute-value normalization keeps them.
fn xml_attr(text: &str) -> String {
    quick_xml::escape::escape(xml_chars(text).as_str())
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

fn seconds(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// The body of a `<failure>` or `<error>`: what was seen, what was expected, the fix, evidence.
fn details(check: &CheckResult) -> String {
    let mut body = check.message.clone();
    for key in ["expected", "seen"] {
        if let Some(value) = check.evidence.get(key) {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            let _ = write!(body, "\n{key}: {value}");
        }
    }
    if !check.remediation.is_empty() {
        let _ = write!(body, "\n\nfix:\n{}", check.remediation);
    }
    if !check.evidence.is_empty() {
        let evidence = serde_json::to_string_pretty(&check.evidence).unwrap_or_default();
        let _ = write!(body, "\n\nevidence: {evidence}");
    }
    body
}

impl Exporter for JunitExporter {
    fn render(&self, report: &RunReport) -> Vec<u8> {
        let summary = report.summary();
        let classname = format!("lsprobe.{}", report.target.provider);
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let counts = format!(
            "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\"",
            summary.total(),
            summary.failed,
            summary.errors,
            summary.skipped,
            report.duration_s
        );
        let _ = writeln!(out, "<testsuites name=\"lsprobe\" {counts}>");
        let _ = writeln!(
            out,
            "  <testsuite name=\"lsprobe\" {counts} timestamp=\"{}\">",
            report.started_at.format("%Y-%m-%dT%H:%M:%S")
        );
        out.push_str("    <properties>\n");
        let t = &report.target;
        let mut properties = vec![
            ("lsprobe.version", report.tool.version.clone()),
            ("provider", t.provider.to_string()),
            ("bucket", t.bucket.clone()),
            ("folder", t.folder.clone()),
            ("credentials", t.credentials.clone()),
        ];
        if let Some(endpoint) = &t.endpoint {
            properties.push(("endpoint", endpoint.clone()));
        }
        if let Some(source) = &t.credential_source {
            properties.push(("credential_source", source.clone()));
        }
        if let Some(identity) = &t.identity {
            properties.push(("identity", identity.clone()));
        }
        for (name, value) in properties {
            let _ = writeln!(
                out,
                "      <property name=\"{name}\" value=\"{}\"/>",
                xml_attr(&value)
            );
        }
        out.push_str("    </properties>\n");

        for check in &report.checks {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
                xml_attr(&classname),
                xml_attr(&check.id),
                seconds(check.duration_ms)
            );
            let message = xml_attr(&check.message);
            match check.status {
                Status::Pass => out.push_str("/>\n"),
                Status::Fail => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{message}\" type=\"fail\">{}</failure>\n    </testcase>",
                        xml_text(&details(check))
                    );
                }
                Status::Error => {
                    let _ = writeln!(
                        out,
                        ">\n      <error message=\"{message}\" type=\"error\">{}</error>\n    </testcase>",
                        xml_text(&details(check))
                    );
                }
                Status::Skip => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{message}\"/>\n    </testcase>"
                    );
                }
                Status::Warn => {
                    let _ = writeln!(
                        out,
                        ">\n      <system-out>warning: {}</system-out>\n    </testcase>",
                        xml_text(&details(check))
                    );
                }
            }
        }

        let mut notes = String::new();
        if let Some(load) = &report.load {
            let verdict = if load.verdict.slow {
                "slow"
            } else {
                "fast enough"
            };
            let _ = writeln!(
                notes,
                "load verdict: {verdict} (class {})",
                load.verdict.class
            );
            for reason in &load.verdict.reasons {
                let _ = writeln!(notes, "  {reason}");
            }
        }
        if !report.cleanup.leftover.is_empty() {
            let _ = writeln!(
                notes,
                "cleanup left {} keys in the bucket; delete them by hand:",
                report.cleanup.leftover.len()
            );
            for key in &report.cleanup.leftover {
                let _ = writeln!(notes, "  {key}");
            }
        }
        if !notes.is_empty() {
            let _ = writeln!(out, "    <system-err>{}</system-err>", xml_text(&notes));
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out.into_bytes()
    }

    fn file_name(&self) -> &'static str {
        "junit.xml"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;
    use quick_xml::events::Event;

    type Element = (String, Vec<(String, String)>, String);

    fn element(e: &quick_xml::events::BytesStart) -> Element {
        let name = e.name().as_ref().to_string();
        let attrs = e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                let key = a.key.as_ref().to_string();
                let value = a.normalized_value(quick_xml::XmlVersion::Implicit1_0);
                (key, value.unwrap().into_owned())
            })
            .collect();
        (name, attrs, String::new())
    }

    /// Every element with its attributes (unescaped and normalized as a parser must), and the
    /// text directly inside each element.
    fn parse(xml: &str) -> Vec<Element> {
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut elements: Vec<Element> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) => {
                    elements.push(element(&e));
                    open.push(elements.len() - 1);
                }
                Event::Empty(e) => elements.push(element(&e)),
                Event::Text(t) => {
                    if let Some(&i) = open.last() {
                        elements[i].2.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(&i) = open.last() {
                        let name = r.xml10_content();
                        let c = match name.as_ref() {
                            "amp" => "&".to_string(),
                            "lt" => "<".to_string(),
                            "gt" => ">".to_string(),
                            "quot" => "\"".to_string(),
                            "apos" => "'".to_string(),
                            _ => r.resolve_char_ref().unwrap().unwrap().to_string(),
                        };
                        elements[i].2.push_str(&c);
                    }
                }
                Event::End(_) => {
                    open.pop();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        elements
    }

    fn attr<'a>(element: &'a Element, key: &str) -> &'a str {
        &element.1.iter().find(|(k, _)| k == key).unwrap().1
    }

    #[test]
    fn well_formed_with_counts_and_one_testcase_per_check() {
        let xml = String::from_utf8(JunitExporter.render(&sample::full_report())).unwrap();
        let elements = parse(&xml);
        let suite = elements.iter().find(|e| e.0 == "testsuite").unwrap();
        assert_eq!(attr(suite, "name"), "lsprobe");
        assert_eq!(attr(suite, "tests"), "5");
        assert_eq!(attr(suite, "failures"), "1");
        assert_eq!(attr(suite, "errors"), "1");
        assert_eq!(attr(suite, "skipped"), "1");
        assert_eq!(attr(suite, "time"), "1.500");
        let cases: Vec<_> = elements.iter().filter(|e| e.0 == "testcase").collect();
        assert_eq!(cases.len(), 5);
        assert!(cases.iter().all(|c| attr(c, "classname") == "lsprobe.s3"));
        assert_eq!(attr(cases[1], "name"), "permissions.put");
        assert_eq!(attr(cases[1], "time"), "0.012");
        for kind in ["failure", "error", "skipped", "system-out", "system-err"] {
            assert_eq!(elements.iter().filter(|e| e.0 == kind).count(), 1, "{kind}");
        }
    }

    #[test]
    fn escapes_so_that_messages_survive_exactly() {
        let report = sample::full_report();
        let xml = String::from_utf8(JunitExporter.render(&report)).unwrap();
        let elements = parse(&xml);
        let failure = elements.iter().find(|e| e.0 == "failure").unwrap();
        assert_eq!(attr(failure, "message"), report.checks[1].message);
        assert!(
            failure
                .2
                .contains("expected: 200 OK\nseen: 403 AccessDenied"),
            "{}",
            failure.2
        );
        assert!(
            failure
                .2
                .contains("\"Resource\": \"arn:aws:s3:::ls-media/*\""),
            "{}",
            failure.2
        );
        let error = elements.iter().find(|e| e.0 == "error").unwrap();
        assert!(attr(error, "message").ends_with("refused\u{FFFD}"));
        let out = elements.iter().find(|e| e.0 == "system-out").unwrap();
        assert!(out.2.starts_with("warning: StorageV2"), "{}", out.2);
        let err = elements.iter().find(|e| e.0 == "system-err").unwrap();
        assert!(err.2.contains("über ünïcode & <x>"), "{}", err.2);

        let mut multi = sample::empty_report();
        multi.push_check(CheckResult::new(
            "cors.actual_get",
            Status::Fail,
            "line one\nline two",
        ));
        let xml = String::from_utf8(JunitExporter.render(&multi)).unwrap();
        let elements = parse(&xml);
        let failure = elements.iter().find(|e| e.0 == "failure").unwrap();
        assert_eq!(attr(failure, "message"), "line one\nline two");
    }
}
