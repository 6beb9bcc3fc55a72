//! The terminal report: one line per check, the fix under each that did not pass, the load
//! verdict, cleanup, and the summary line.
use std::fmt::Write as _;

use super::digest::{self, id_list};
use super::{Exporter, LoadMode, RunReport};
use crate::checks::Status;

/// Text for people; ANSI colour only when `colour` is set (a TTY, no `NO_COLOR`).
#[derive(Clone, Copy, Debug, Default)]
pub struct TextExporter {
    /// Colour the status marks with plain ANSI codes.
    pub colour: bool,
}

const RESET: &str = "\x1b[0m";
const BOLD_RED: &str = "\x1b[1;31m";

impl TextExporter {
    /// Colour when stdout is a terminal and `NO_COLOR` is not set (https://no-color.org).
    pub fn for_terminal() -> Self {
        use std::io::IsTerminal as _;
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        TextExporter {
            colour: std::io::stdout().is_terminal() && !no_colour,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn mark(&self, status: Status) -> String {
        let (label, code) = match status {
            Status::Pass => ("PASS ", "\x1b[32m"),
            Status::Warn => ("WARN ", "\x1b[33m"),
            Status::Fail => ("FAIL ", "\x1b[1;31m"),
            Status::Error => ("ERROR", "\x1b[35m"),
            Status::Skip => ("SKIP ", "\x1b[2m"),
        };
        self.paint(code, label)
    }
}

/// The text with control characters (other than newline and tab) shown escaped, so a cloud's
/// answer cannot move the cursor or change colours.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Every line of `text` indented by `indent`.
fn indented(out: &mut String, indent: &str, text: &str) {
    for line in printable(text).lines() {
        let _ = writeln!(out, "{indent}{line}");
    }
}

impl Exporter for TextExporter {
    fn render(&self, report: &RunReport) -> Vec<u8> {
        let mut out = String::new();
        let t = &report.target;
        let folder = if t.folder.is_empty() {
            "(whole bucket)"
        } else {
            &t.folder
        };
        let _ = write!(
            out,
            "{} {}: {} bucket {}, folder {}, {}",
            report.tool.name,
            report.tool.version,
            t.provider,
            printable(&t.bucket),
            printable(folder),
            t.credentials
        );
        if let Some(endpoint) = &t.endpoint {
            let _ = write!(out, ", endpoint {}", printable(endpoint));
        }
        out.push('\n');
        if let (Some(source), Some(identity)) = (&t.credential_source, &t.identity) {
            let _ = writeln!(
                out,
                "  credentials: {}: {}",
                printable(source),
                printable(identity)
            );
        }

        let digest = digest::digest(&report.checks);
        let labels: Vec<String> = digest.lines.iter().map(|l| id_list(&l.ids)).collect();
        // Align on single ids; a long list of ids just pushes its own message right.
        let width = digest
            .lines
            .iter()
            .filter(|l| l.ids.len() == 1)
            .map(|l| l.ids[0].len())
            .max()
            .unwrap_or(0);
        for (line, label) in digest.lines.iter().zip(&labels) {
            let mut tail = Vec::new();
            if let Some(ms) = line.duration_ms {
                tail.push(format!("{ms} ms"));
            }
            if let Some(fix) = line.fix {
                tail.push(format!("fix {}", fix + 1));
            }
            let tail = if tail.is_empty() {
                String::new()
            } else {
                format!(" ({})", tail.join(", "))
            };
            let mut lines = line.message.lines();
            let _ = writeln!(
                out,
                "  {} {:<width$}  {}{tail}",
                self.mark(line.status),
                printable(label),
                printable(lines.next().unwrap_or("")),
            );
            for more in lines {
                let _ = writeln!(out, "        {:<width$}  {}", "", printable(more));
            }
        }
        for (i, fix) in digest.fixes.iter().enumerate() {
            let _ = writeln!(
                out,
                "fix {}, fixes {}:",
                i + 1,
                printable(&id_list(&fix.ids))
            );
            indented(&mut out, "    ", &fix.text);
        }
        for note in &digest.notes {
            out.push_str("note: ");
            indented(&mut out, "", note);
        }

        if let Some(load) = &report.load {
            let rate = load
                .rate
                .map(|r| format!(", {r} ops/s"))
                .unwrap_or_default();
            let mode = match load.mode {
                LoadMode::Closed => "closed",
                LoadMode::Open => "open",
            };
            let shard = load
                .shard
                .map(|s| format!(", shard {s}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "load: {mode} loop, {} workers{rate}, {:.1} s{shard}",
                load.concurrency, load.duration_s
            );
            for (op, stats) in &load.ops {
                let _ = writeln!(
                    out,
                    "  {:<6} {} ops, {} errors, {:.1} ops/s, {:.2} MiB/s, p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms",
                    op.as_str(),
                    stats.count,
                    stats.errors,
                    stats.ops_per_s,
                    stats.bytes_per_s / (1024.0 * 1024.0),
                    stats.latency_ms.p50,
                    stats.latency_ms.p99,
                    stats.latency_ms.p999,
                    stats.latency_ms.max
                );
                if let Some(t) = &stats.ttfb_ms {
                    let _ = writeln!(
                        out,
                        "         first byte p50 {:.1} ms, p99 {:.1} ms",
                        t.p50, t.p99
                    );
                }
                let e = &stats.errors_by_class;
                if stats.errors > 0 {
                    let _ = writeln!(
                        out,
                        "         errors: {} throttled, {} denied, {} timed out, {} other",
                        e.throttled, e.denied, e.timeout, e.other
                    );
                }
            }
            if let Some(q) = &load.queue_delay_ms {
                let _ = writeln!(
                    out,
                    "  queueing delay (start after the intended time): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                    q.p50, q.p99, q.max
                );
            }
            if load.dropped > 0 {
                let _ = writeln!(
                    out,
                    "  dropped: {} planned requests never started (the storage did not keep up)",
                    load.dropped
                );
            }
            if let Some(why) = &load.stopped_early {
                indented(&mut out, "  stopped early: ", why);
            }
            if let Some(reason) = load.stop_reason {
                let _ = writeln!(out, "  stopped: {}", reason.describe());
            }
            let verdict = if load.verdict.slow {
                "SLOW"
            } else {
                "fast enough"
            };
            let required = if load.verdict.required.is_empty() {
                String::new()
            } else {
                format!(", {} required", printable(&load.verdict.required))
            };
            let _ = writeln!(
                out,
                "  verdict: {verdict} (class {}{required})",
                printable(&load.verdict.class)
            );
            for reason in &load.verdict.reasons {
                indented(&mut out, "    - ", reason);
            }
        }

        let cleanup = &report.cleanup;
        if cleanup.leftover.is_empty() {
            let _ = writeln!(
                out,
                "cleanup: deleted {} objects, nothing left",
                cleanup.deleted
            );
        } else {
            let head = format!(
                "cleanup: deleted {} objects; {} LEFT IN THE BUCKET, delete them by hand:",
                cleanup.deleted,
                cleanup.leftover.len()
            );
            let _ = writeln!(out, "{}", self.paint(BOLD_RED, &head));
            for key in &cleanup.leftover {
                let _ = writeln!(out, "  {}", printable(key));
            }
        }
        let _ = writeln!(out, "{}", report.summary());
        out.into_bytes()
    }

    fn file_name(&self) -> &'static str {
        "report.txt"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    fn render(colour: bool) -> String {
        String::from_utf8(TextExporter { colour }.render(&sample::full_report())).unwrap()
    }

    #[test]
    fn dropped_requests_and_an_early_stop_are_said() {
        let mut report = sample::full_report();
        if let Some(load) = report.load.as_mut() {
            load.dropped = 4321;
            load.stopped_early = Some("the last 20 requests all failed".into());
        }
        let text = String::from_utf8(TextExporter { colour: false }.render(&report)).unwrap();
        assert!(
            text.contains("dropped: 4321 planned requests never started"),
            "{text}"
        );
        assert!(
            text.contains("stopped early: the last 20 requests all failed"),
            "{text}"
        );
        assert!(!render(false).contains("dropped:"));
    }

    #[test]
    fn why_the_run_stopped_and_which_shard_it_was_are_said() {
        let mut report = sample::full_report();
        if let Some(load) = report.load.as_mut() {
            load.stop_reason = Some(crate::report::StopReason::AutotermStable);
            load.shard = Some(crate::load::Shard { index: 1, count: 3 });
        }
        let text = String::from_utf8(TextExporter { colour: false }.render(&report)).unwrap();
        assert!(
            text.contains("stopped: autoterm: throughput and p99 were stable"),
            "{text}"
        );
        assert!(text.contains(" s, shard 1/3\n"), "{text}");
        assert!(!render(false).contains("stopped:"));
    }

    #[test]
    fn one_line_per_check_with_fixes_under_failures() {
        let text = render(false);
        assert!(text.contains("  PASS  permissions.list"), "{text}");
        assert!(text.contains("  FAIL  permissions.put"), "{text}");
        assert!(text.contains("  ERROR presign.get"), "{text}");
        assert!(
            text.contains("fix 1, fixes permissions.put:\n    Add to the IAM policy"),
            "{text}"
        );
        assert!(
            text.contains("      \"Action\": \"s3:PutObject\""),
            "{text}"
        );
        assert!(text.contains("Use a Premium_LRS"), "{text}");
        assert!(
            text.contains("1 passed, 1 warned, 1 failed, 1 errors, 1 skipped\n"),
            "{text}"
        );
        assert!(text.contains("1 LEFT IN THE BUCKET"), "{text}");
        assert!(text.contains("über ünïcode & <x>"), "{text}");
        assert!(
            text.contains("verdict: SLOW (class hdd, ssd required)"),
            "{text}"
        );
        assert!(text.contains("first byte p50 1.2 ms"), "{text}");
        assert!(
            text.contains("errors: 2 throttled, 0 denied, 0 timed out, 1 other"),
            "{text}"
        );
        assert!(
            text.contains("load: closed loop, 8 workers, 30.0 s"),
            "{text}"
        );
    }

    #[test]
    fn colour_only_when_asked_and_never_from_the_messages() {
        let plain = render(false);
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(plain.contains("\\u{1b}[31m"), "{plain}");
        assert!(plain.contains("\\u{0}"), "{plain}");
        let coloured = render(true);
        assert!(coloured.contains("\x1b[32mPASS \x1b[0m"), "{coloured}");
    }

    #[test]
    fn passes_have_no_fix_and_clean_runs_say_so() {
        let mut report = sample::empty_report();
        report.push_check(
            crate::checks::CheckResult::new(
                "permissions.get",
                Status::Pass,
                "read back 1024 bytes",
            )
            .with_remediation("unused"),
        );
        let text = String::from_utf8(TextExporter::default().render(&report)).unwrap();
        assert!(!text.contains("fix"), "{text}");
        assert!(text.contains("nothing left"), "{text}");
    }
}
