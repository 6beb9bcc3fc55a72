//! The HTML report: one self-contained file (inline CSS and SVG; no script, font, image or
//! style sheet is fetched when it is viewed). Per report: the target, the verdict, every check
//! (failures first, each fix once with the checks it fixes) and, for a load run, per operation
//! an HDR percentile plot (latency, and time to first byte for `get`, on a log "1 / (1 −
//! quantile)" axis with p50, p99 and p99.9 marked and the verdict thresholds that apply drawn),
//! throughput and latency over time from the timeline, and errors by class. Several reports
//! are shown side by side. Plots are drawn with plotters' SVG backend.
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use plotters::prelude::*;

use super::digest::{self, id_list};
use super::{Exporter, LoadReport, RunReport};
use crate::checks::Status;
use crate::load::Op;
use crate::load::recorder::decode_histogram;
use crate::load::verdict::Metric;

/// HTML for people, one file.
#[derive(Clone, Copy, Debug, Default)]
pub struct HtmlExporter;

/// `text` escaped for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
.reports{display:grid;gap:2em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;\
vertical-align:top;text-align:left}pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap}\
.pass{color:#176f2c}.warn{color:#8a6100}.fail,.error{color:#b00020;font-weight:bold}\
.skip{color:#777}.plot svg{max-width:100%;height:auto}.verdict{font-size:1.2em}";

/// Several reports side by side (e.g. before and after a storage change).
pub fn render_many(reports: &[RunReport]) -> Vec<u8> {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; img-src data:\">\
         <title>lsprobe report</title><style>{STYLE}</style></head><body>\n\
         <div class=\"reports\" style=\"grid-template-columns:repeat({},minmax(0,1fr))\">\n",
        reports.len().max(1)
    );
    for (i, report) in reports.iter().enumerate() {
        section(&mut out, report, i);
    }
    out.push_str("</div></body></html>\n");
    out.into_bytes()
}

fn class(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Warn => "warn",
        Status::Fail => "fail",
        Status::Error => "error",
        Status::Skip => "skip",
    }
}

fn rank(status: Status) -> u8 {
    match status {
        Status::Fail => 0,
        Status::Error => 1,
        Status::Warn => 2,
        Status::Skip => 3,
        Status::Pass => 4,
    }
}

/// The kind of credential, the source used and whose they are, as far as the report knows.
pub fn credentials(t: &super::TargetSummary) -> String {
    let mut out = t.credentials.clone();
    if let Some(source) = &t.credential_source {
        out.push_str(&format!(" ({source})"));
    }
    if let Some(identity) = &t.identity {
        out.push_str(&format!(", as {identity}"));
    }
    out
}

fn section(out: &mut String, report: &RunReport, index: usize) {
    let t = &report.target;
    let _ = write!(
        out,
        "<section id=\"report-{index}\"><h1>lsprobe: {} bucket {}</h1>\n<p>Folder {}, \
         credentials: {}{}. {} {}, started {}, took {:.1} s, exit code {}.</p>\n",
        t.provider,
        escape(&t.bucket),
        escape(if t.folder.is_empty() {
            "(whole bucket)"
        } else {
            &t.folder
        }),
        escape(&credentials(t)),
        t.endpoint
            .as_ref()
            .map(|e| format!(", endpoint {}", escape(e)))
            .unwrap_or_default(),
        escape(&report.tool.name),
        escape(&report.tool.version),
        report.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        report.duration_s,
        report.exit_code
    );
    let verdict = match report.exit_code {
        0 => "<span class=\"pass\">passed</span>",
        1 => "<span class=\"fail\">failed</span>",
        _ => "<span class=\"error\">did not finish</span>",
    };
    let _ = writeln!(
        out,
        "<p class=\"verdict\">{verdict}: {}</p>",
        escape(&report.summary().to_string())
    );

    let digest = digest::digest(&report.checks);
    let mut lines: Vec<_> = digest.lines.iter().collect();
    lines.sort_by_key(|l| rank(l.status));
    out.push_str("<h2>Checks</h2>\n<table><tr><th>Status</th><th>Check</th><th>Result</th></tr>\n");
    for line in lines {
        let fix = line
            .fix
            .map(|i| format!(" <a href=\"#fix-{index}-{}\">fix {}</a>", i + 1, i + 1))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td class=\"{0}\">{0}</td><td>{1}</td><td>{2}{fix}</td></tr>",
            class(line.status),
            escape(&id_list(&line.ids)),
            escape(&line.message)
        );
    }
    out.push_str("</table>\n");
    for (i, fix) in digest.fixes.iter().enumerate() {
        let _ = writeln!(
            out,
            "<h3 id=\"fix-{index}-{}\">Fix {}: fixes {}</h3><pre>{}</pre>",
            i + 1,
            i + 1,
            escape(&id_list(&fix.ids)),
            escape(&fix.text)
        );
    }
    for note in &digest.notes {
        let _ = writeln!(out, "<p><em>{}</em></p>", escape(note));
    }
    if let Some(load) = &report.load {
        load_section(out, load, index);
    }
    let c = &report.cleanup;
    let _ = write!(out, "<p>Cleanup: deleted {} objects", c.deleted);
    if c.leftover.is_empty() {
        out.push_str(", nothing left.</p>\n");
    } else {
        let _ = writeln!(
            out,
            "; <span class=\"fail\">{} left in the bucket, delete them by hand:</span></p><ul>",
            c.leftover.len()
        );
        for key in &c.leftover {
            let _ = writeln!(out, "<li>{}</li>", escape(key));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

/// The limits of the required profile that apply to `op`'s plots: (label, ms, on ttfb).
fn thresholds(load: &LoadReport, op: Op) -> Vec<(String, f64, bool)> {
    let Some(basis) = &load.verdict_basis else {
        return Vec::new();
    };
    let Some(profile) = basis
        .config
        .profiles
        .iter()
        .find(|p| p.class == load.verdict.required)
    else {
        return Vec::new();
    };
    profile
        .thresholds
        .iter()
        .filter_map(|t| {
            let ttfb = match (op, t.metric) {
                (Op::Get, Metric::GetTtfbP50Ms | Metric::GetTtfbP99Ms) => true,
                (Op::Head, Metric::HeadP50Ms | Metric::HeadP99Ms) => false,
                _ => return None,
            };
            Some((
                format!("{} ≤ {} ms ({})", t.metric, t.limit, load.verdict.required),
                t.limit,
                ttfb,
            ))
        })
        .collect()
}

fn load_section(out: &mut String, load: &LoadReport, index: usize) {
    let v = &load.verdict;
    let _ = writeln!(
        out,
        "<h2>Load</h2><p class=\"verdict\">Verdict: <span class=\"{}\">{}</span> (class {}, {} \
         required)</p>",
        if v.slow { "fail" } else { "pass" },
        if v.slow { "SLOW" } else { "fast enough" },
        escape(&v.class),
        escape(&v.required)
    );
    if !v.reasons.is_empty() {
        out.push_str("<ul>");
        for r in &v.reasons {
            let _ = write!(out, "<li>{}</li>", escape(r));
        }
        out.push_str("</ul>\n");
    }
    let shard = load
        .shard
        .map(|s| format!("Shard {s} of a sharded run. "))
        .unwrap_or_default();
    if let Some(reason) = load.stop_reason {
        let _ = writeln!(out, "<p>{shard}Stopped: {}.</p>", escape(reason.describe()));
    } else if !shard.is_empty() {
        let _ = writeln!(out, "<p>{shard}</p>");
    }
    out.push_str(
        "<table><tr><th>Op</th><th>Requests</th><th>ops/s</th><th>MiB/s</th><th>p50</th>\
         <th>p99</th><th>p99.9</th><th>Errors: throttled / denied / timed out / other</th></tr>\n",
    );
    for (op, s) in &load.ops {
        let e = &s.errors_by_class;
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.1} ms</td>\
             <td>{:.1} ms</td><td>{:.1} ms</td><td>{} / {} / {} / {}</td></tr>",
            op.as_str(),
            s.count,
            s.ops_per_s,
            s.bytes_per_s / (1024.0 * 1024.0),
            s.latency_ms.p50,
            s.latency_ms.p99,
            s.latency_ms.p999,
            e.throttled,
            e.denied,
            e.timeout,
            e.other
        );
    }
    out.push_str("</table>\n");
    for (op, s) in &load.ops {
        let mut curves = Vec::new();
        if let Ok(h) = decode_histogram(&s.histogram) {
            curves.push(("total".to_string(), h));
        }
        if let Some(Ok(h)) = s.ttfb_histogram.as_deref().map(decode_histogram) {
            curves.push(("first byte".to_string(), h));
        }
        if curves.iter().all(|(_, h)| h.is_empty()) {
            continue;
        }
        let svg = percentile_plot(
            &format!("{} latency by percentile", op.as_str()),
            &curves,
            &thresholds(load, *op),
        );
        let _ = writeln!(
            out,
            "<div class=\"plot\" id=\"plot-{index}-percentiles-{}\">{svg}</div>",
            op.as_str()
        );
    }
    if !load.timeline.is_empty() {
        let _ = writeln!(
            out,
            "<div class=\"plot\" id=\"plot-{index}-throughput\">{}</div>",
            timeline_plot(load, "successful requests per second", |p| {
                p.count.saturating_sub(p.errors) as f64
            })
        );
        let _ = writeln!(
            out,
            "<div class=\"plot\" id=\"plot-{index}-latency\">{}</div>",
            timeline_plot(load, "p99 latency per second (ms)", |p| p.p99_ms)
        );
    }
}

const COLOURS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// HdrHistogram's percentile distribution: latency against 1 / (1 − quantile), log axis.
fn percentile_plot(
    title: &str,
    curves: &[(String, Histogram<u64>)],
    limits: &[(String, f64, bool)],
) -> String {
    let series: Vec<(String, Vec<(f64, f64)>)> = curves
        .iter()
        .map(|(name, h)| {
            let points = h
                .iter_quantiles(4)
                .map(|v| {
                    let q = v.quantile_iterated_to().min(0.99999);
                    (1.0 / (1.0 - q), v.value_iterated_to() as f64 / 1000.0)
                })
                .collect();
            (name.clone(), points)
        })
        .collect();
    // The scale follows the data; a limit far above it is named in the legend instead of
    // flattening the curves.
    let data_top = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(1.0f64, f64::max);
    let top = limits
        .iter()
        .map(|(_, l, _)| *l)
        .filter(|l| *l <= data_top * 3.0)
        .fold(data_top, f64::max)
        * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 360)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d((1.0f64..100_000.0).log_scale(), 0.0f64..top);
        let Ok(mut chart) = chart else {
            return String::new();
        };
        let _ = chart
            .configure_mesh()
            .x_desc("percentile (log of 1 / (1 - quantile))")
            .y_desc("ms")
            .x_label_formatter(&|x| {
                let pct = 100.0 * (1.0 - 1.0 / x);
                format!("{pct:.3}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string()
                    + "%"
            })
            .draw();
        for (i, (name, points)) in series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            if let Ok(s) =
                chart.draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            {
                s.label(name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            }
        }
        // p50, p99, p99.9 of the total latency.
        if let Some((_, h)) = curves.first() {
            for (label, q) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)] {
                let y = h.value_at_quantile(q) as f64 / 1000.0;
                let x = 1.0 / (1.0 - q);
                let _ = chart.draw_series(std::iter::once(Circle::new((x, y), 4, BLACK.filled())));
                let _ = chart.draw_series(std::iter::once(Text::new(
                    format!("{label} {y:.1} ms"),
                    (x, y),
                    ("sans-serif", 13),
                )));
            }
        }
        for (label, limit, _) in limits {
            let (points, label) = if *limit <= top {
                (vec![(1.0, *limit), (100_000.0, *limit)], label.clone())
            } else {
                (Vec::new(), format!("{label}: above this scale"))
            };
            if let Ok(s) = chart.draw_series(LineSeries::new(points, RED.stroke_width(1))) {
                s.label(label)
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
            }
        }
        let _ = chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw();
        let _ = root.present();
    }
    svg
}

/// One line per operation over the seconds of the measured window.
fn timeline_plot(
    load: &LoadReport,
    title: &str,
    value: impl Fn(&super::TimelinePoint) -> f64,
) -> String {
    // Seconds of the measured window only (a request that ends after it is counted in its
    // last, partial second would otherwise draw a drop to zero).
    let window = load.duration_s.ceil().max(1.0) as u64;
    let in_window = |p: &&super::TimelinePoint| p.second < window;
    let last = load
        .timeline
        .iter()
        .filter(in_window)
        .map(|p| p.second)
        .max()
        .unwrap_or(0)
        + 1;
    let top = load
        .timeline
        .iter()
        .filter(in_window)
        .map(&value)
        .fold(1.0f64, f64::max)
        * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 300)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0u64..last, 0.0f64..top)
        else {
            return String::new();
        };
        let _ = chart.configure_mesh().x_desc("second").draw();
        for (i, op) in load.ops.keys().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let points: Vec<(u64, f64)> = load
                .timeline
                .iter()
                .filter(|p| p.op == *op && p.second < window)
                .map(|p| (p.second, value(p)))
                .collect();
            if let Ok(s) = chart.draw_series(LineSeries::new(points, colour.stroke_width(2))) {
                s.label(op.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            }
        }
        let _ = chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw();
        let _ = root.present();
    }
    svg
}

impl Exporter for HtmlExporter {
    fn render(&self, report: &RunReport) -> Vec<u8> {
        render_many(std::slice::from_ref(report))
    }

    fn file_name(&self) -> &'static str {
        "report.html"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn failures_first_escaped_and_nothing_fetched() {
        let html = String::from_utf8(HtmlExporter.render(&sample::full_report())).unwrap();
        let fail = html.find("<td class=\"fail\">").unwrap();
        let pass = html.find("<td class=\"pass\">").unwrap();
        assert!(fail < pass, "failures first");
        assert!(
            html.contains("&lt;Code&gt; &amp; &quot;quotes&quot;"),
            "{html}"
        );
        assert!(!html.contains('\u{1b}') && !html.contains("<x>"));
        assert!(html.contains("<h3 id=\"fix-0-1\">Fix 1: fixes permissions.put</h3>"));
        assert!(html.contains("default-src 'none'"));
        for needle in ["src=", "<script", "<link", "url("] {
            assert!(!html.contains(needle), "{needle}");
        }
    }

    #[test]
    fn why_the_run_stopped_and_its_shard_are_shown() {
        let mut report = sample::full_report();
        let load = report.load.as_mut().unwrap();
        load.stop_reason = Some(crate::report::StopReason::AutotermStable);
        load.shard = Some(crate::load::Shard { index: 1, count: 2 });
        let html = String::from_utf8(HtmlExporter.render(&report)).unwrap();
        assert!(
            html.contains("<p>Shard 1/2 of a sharded run. Stopped: autoterm: throughput"),
            "{html}"
        );
    }

    #[test]
    fn the_identity_used_is_shown() {
        let mut report = sample::full_report();
        report.target.credential_source = Some("AWS chain: web identity (IRSA)".into());
        report.target.identity = Some("arn:aws:sts::123:assumed-role/ls/x".into());
        let html = String::from_utf8(HtmlExporter.render(&report)).unwrap();
        assert!(
            html.contains(
                "credentials: access keys (AWS chain: web identity (IRSA)), as \
                 arn:aws:sts::123:assumed-role/ls/x"
            ),
            "{html}"
        );
    }

    #[test]
    fn side_by_side_in_one_grid() {
        let html = String::from_utf8(render_many(&[
            sample::full_report(),
            sample::empty_report(),
        ]))
        .unwrap();
        assert!(html.contains("repeat(2,minmax(0,1fr))"));
        assert_eq!(html.matches("<section id=\"report-").count(), 2);
    }

    #[test]
    fn percentile_plot_marks_the_quantiles_and_draws_the_limit() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for us in 1..=1000u64 {
            h.record(us * 100).unwrap();
        }
        let svg = percentile_plot(
            "get",
            &[("total".into(), h)],
            &[
                ("get_ttfb_p99_ms ≤ 80 ms (ssd)".into(), 80.0, true),
                ("get_ttfb_p50_ms ≤ 900 ms (hdd)".into(), 900.0, true),
            ],
        );
        assert!(
            svg.contains("get_ttfb_p50_ms ≤ 900 ms (hdd): above this scale"),
            "{svg}"
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("p50 50.0 ms"), "{svg}");
        assert!(svg.contains("p99.9"), "{svg}");
        assert!(svg.contains("get_ttfb_p99_ms"), "{svg}");
    }
}
