//! The Markdown summary, for `$GITHUB_STEP_SUMMARY`, a GitLab merge request or a wiki page: the
//! target and verdict, a table of checks, the failures with their fixes, the load figures.
//! GitHub Flavored Markdown; GitLab renders the same tables and `<details>`.
use std::fmt::Write as _;

use super::digest::{self, id_list};
use super::{Exporter, LoadMode, RunReport};
use crate::checks::Status;

/// Markdown for CI job summaries.
#[derive(Clone, Copy, Debug, Default)]
pub struct MarkdownExporter;

/// Several reports one after the other (e.g. before and after a storage change), separated by
/// a rule.
pub fn render_many(reports: &[RunReport]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, report) in reports.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\n---\n\n");
        }
        out.extend(MarkdownExporter.render(report));
    }
    out
}

/// `text` safe inside a Markdown paragraph or table cell: no HTML, no emphasis, no links, no
/// cell breaks, no control characters; newlines become `<br>`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("&#124;"),
            '\n' => out.push_str("<br>"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// A fenced block holding `text` verbatim: the fence is longer than any backtick run in it.
fn fenced(out: &mut String, text: &str) {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    let _ = writeln!(out, "{fence}text\n{}\n{fence}", clean.trim_end());
}

fn status(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅ pass",
        Status::Warn => "⚠️ warn",
        Status::Fail => "❌ fail",
        Status::Error => "❗ error",
        Status::Skip => "⏭️ skip",
    }
}

fn ms(v: f64) -> String {
    format!("{v:.1} ms")
}

impl Exporter for MarkdownExporter {
    fn render(&self, report: &RunReport) -> Vec<u8> {
        let mut out = String::new();
        let t = &report.target;
        let summary = report.summary();
        let slow = report.load.as_ref().is_some_and(|l| l.verdict.slow);
        let headline = match report.exit_code {
            0 => "✅ passed",
            1 if summary.failed + summary.errors == 0 && slow => "❌ too slow",
            1 => "❌ failed",
            2 => "❗ bad input",
            _ => "❗ did not finish",
        };
        let folder = if t.folder.is_empty() {
            "(whole bucket)".to_string()
        } else {
            escape(&t.folder)
        };
        let _ = writeln!(
            out,
            "## lsprobe: {} bucket {}: {headline}\n",
            t.provider,
            escape(&t.bucket)
        );
        let mut target = format!(
            "Folder {folder}, credentials: {}",
            escape(&super::html::credentials(t))
        );
        if let Some(endpoint) = &t.endpoint {
            let _ = write!(target, ", endpoint {}", escape(endpoint));
        }
        let _ = writeln!(
            out,
            "{target}. {} {}, started {}, took {:.1} s, exit code {}.\n",
            escape(&report.tool.name),
            escape(&report.tool.version),
            report.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            report.duration_s,
            report.exit_code
        );
        let _ = writeln!(out, "**{summary}**\n");

        let digest = digest::digest(&report.checks);
        if !digest.lines.is_empty() {
            out.push_str("| Status | Check | Result |\n|---|---|---|\n");
            for line in &digest.lines {
                let fix = line
                    .fix
                    .map(|i| format!(" (fix {})", i + 1))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "| {} | {} | {}{fix} |",
                    status(line.status),
                    escape(&id_list(&line.ids)),
                    escape(&line.message)
                );
            }
            out.push('\n');
        }
        if !digest.fixes.is_empty() {
            out.push_str("### Fixes\n\n");
            for (i, fix) in digest.fixes.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "**Fix {}**, fixes {}:\n",
                    i + 1,
                    escape(&id_list(&fix.ids))
                );
                fenced(&mut out, &fix.text);
                out.push('\n');
            }
        }
        for note in &digest.notes {
            let _ = writeln!(out, "> {}\n", escape(note));
        }

        if let Some(load) = &report.load {
            let mode = match load.mode {
                LoadMode::Closed => "closed loop",
                LoadMode::Open => "open loop",
            };
            let rate = load
                .rate
                .map(|r| format!(" at {r} ops/s"))
                .unwrap_or_default();
            let shard = load
                .shard
                .map(|s| format!(", shard {s}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "### Load: {mode}, {} workers{rate}, {:.1} s measured{shard}\n",
                load.concurrency, load.duration_s
            );
            if let Some(reason) = load.stop_reason {
                let _ = writeln!(out, "Stopped: {}.\n", reason.describe());
            }
            out.push_str(
                "| Op | Requests | Errors | ops/s | MiB/s | p50 | p90 | p99 | p99.9 | max | first byte p50 / p99 |\n\
                 |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            );
            for (op, s) in &load.ops {
                let l = &s.latency_ms;
                let ttfb = s
                    .ttfb_ms
                    .map(|t| format!("{} / {}", ms(t.p50), ms(t.p99)))
                    .unwrap_or_else(|| "".into());
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.1} | {:.2} | {} | {} | {} | {} | {} | {ttfb} |",
                    op.as_str(),
                    s.count,
                    s.errors,
                    s.ops_per_s,
                    s.bytes_per_s / (1024.0 * 1024.0),
                    ms(l.p50),
                    ms(l.p90),
                    ms(l.p99),
                    ms(l.p999),
                    ms(l.max)
                );
            }
            out.push('\n');
            let v = &load.verdict;
            let verdict = if v.slow {
                "❌ SLOW"
            } else {
                "✅ fast enough"
            };
            let _ = writeln!(
                out,
                "**Verdict: {verdict}** (class {}, {} required)\n",
                escape(&v.class),
                escape(&v.required)
            );
            for reason in &v.reasons {
                let _ = writeln!(out, "- {}", escape(reason));
            }
            if !v.reasons.is_empty() {
                out.push('\n');
            }
        }

        let cleanup = &report.cleanup;
        if cleanup.leftover.is_empty() {
            let _ = writeln!(
                out,
                "Cleanup: deleted {} objects, nothing left.",
                cleanup.deleted
            );
        } else {
            let _ = writeln!(
                out,
                "**Cleanup: deleted {} objects; {} left in the bucket, delete them by hand:**\n",
                cleanup.deleted,
                cleanup.leftover.len()
            );
            for key in &cleanup.leftover {
                let _ = writeln!(out, "- {}", escape(key));
            }
        }
        out.into_bytes()
    }

    fn file_name(&self) -> &'static str {
        "summary.md"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    fn render() -> String {
        String::from_utf8(MarkdownExporter.render(&sample::full_report())).unwrap()
    }

    #[test]
    fn a_table_of_checks_the_fixes_and_the_load_figures() {
        let md = render();
        assert!(
            md.starts_with("## lsprobe: s3 bucket ls-media: ❌ failed\n"),
            "{md}"
        );
        assert!(
            md.contains("| Status | Check | Result |\n|---|---|---|\n"),
            "{md}"
        );
        assert!(
            md.contains("| ❌ fail | permissions.put | put was denied: 403 AccessDenied &lt;Code&gt; &amp; \"quotes\" 'apostrophes' (fix 1) |"),
            "{md}"
        );
        assert!(
            md.contains("**Fix 1**, fixes permissions.put:\n\n```text\nAdd to the IAM policy"),
            "{md}"
        );
        assert!(
            md.contains("| get | 1200 | 3 | 40.0 | 0.04 | 2.5 ms |"),
            "{md}"
        );
        assert!(
            md.contains("**Verdict: ❌ SLOW** (class hdd, ssd required)"),
            "{md}"
        );
        assert!(md.contains("- get p99 180 ms is above"), "{md}");
        assert!(md.contains("1 left in the bucket"), "{md}");
        assert!(
            md.contains("**1 passed, 1 warned, 1 failed, 1 errors, 1 skipped**"),
            "{md}"
        );
    }

    #[test]
    fn why_the_run_stopped_and_which_shard_it_was_are_said() {
        let mut report = sample::full_report();
        if let Some(load) = report.load.as_mut() {
            load.stop_reason = Some(crate::report::StopReason::DurationCap);
            load.shard = Some(crate::load::Shard { index: 0, count: 2 });
        }
        let md = String::from_utf8(MarkdownExporter.render(&report)).unwrap();
        assert!(md.contains("Stopped: the duration ran out.\n"), "{md}");
        assert!(md.contains(" s measured, shard 0/2\n"), "{md}");
        assert!(!render().contains("Stopped:"));
    }

    #[test]
    fn nothing_from_a_message_can_become_markup() {
        let md = render();
        assert!(!md.contains('\u{1b}'), "{md}");
        assert!(!md.contains('\u{0}'), "{md}");
        assert!(!md.contains("<x>"), "{md}");
        assert_eq!(
            escape("a|b\n*c* [l](u) `x`"),
            "a&#124;b<br>\\*c\\* \\[l\\](u) \\`x\\`"
        );
        let mut out = String::new();
        fenced(&mut out, "has ``` inside");
        assert!(out.starts_with("````text\n"), "{out}");
    }

    #[test]
    fn several_reports_one_after_the_other() {
        let a = sample::full_report();
        let mut b = sample::empty_report();
        b.finish(false);
        let md = String::from_utf8(render_many(&[a, b])).unwrap();
        assert_eq!(md.matches("## lsprobe:").count(), 2, "{md}");
        assert!(md.contains("\n---\n"), "{md}");
        assert!(md.contains("s3 bucket ls-media: ✅ passed"), "{md}");
    }
}
