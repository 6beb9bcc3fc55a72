//! `lsprobe report ...` and `--format markdown` as a user runs them, on reports of real runs
//! against the emulators: what a CI job summary shows, merged parallel runs, and comparisons.
#[path = "support/delay_proxy.rs"]
mod delay_proxy;
mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use lsprobe::emulators::{Kind, S3User};

fn lsprobe(args: &[&str], paths: &[&Path]) -> Output {
    assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .env_clear()
        .args(args)
        .args(paths)
        .timeout(Duration::from_secs(180))
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A short, small `lsprobe load` writing every format into `dir`.
fn load_into(env: &Path, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "load",
        "--duration",
        "2s",
        "--warmup",
        "0s",
        "--concurrency",
        "2",
        "--objects",
        "4",
        "--sizes",
        "4KiB",
        "--mix",
        "get=80,put=20",
    ];
    args.extend_from_slice(extra);
    args.extend(["--report-dir", dir.to_str().unwrap(), "--env-file"]);
    lsprobe(&args, &[env])
}

/// The s3rver bucket, one test at a time: a check's folder and isolation checks must not see
/// the objects another test's load run is writing beside it.
fn s3_env() -> Option<(std::sync::MutexGuard<'static, ()>, PathBuf)> {
    static BUCKET: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let turn = BUCKET.lock().unwrap_or_else(|e| e.into_inner());
    Some((turn, support::env_file(Kind::S3, S3User::Full)?))
}

#[test]
fn markdown_summary_of_a_check_and_of_its_json_report_agree() {
    let Some((_turn, env)) = s3_env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = lsprobe(
        &[
            "check",
            "--report-dir",
            dir.path().to_str().unwrap(),
            "--env-file",
        ],
        &[&env],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(written.starts_with("## lsprobe: s3 bucket "), "{written}");
    assert!(written.contains("✅ passed"), "{written}");
    assert!(
        written.contains("| ✅ pass | permissions.list |"),
        "{written}"
    );

    // `lsprobe report markdown` renders the same summary from the JSON report.
    let json = dir.path().join("report.json");
    let out = lsprobe(&["report", "markdown"], &[&json]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), written);

    // `--format markdown` alone prints it, and `-o` writes it.
    let out = lsprobe(&["check", "--format", "markdown", "--env-file"], &[&env]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("## lsprobe: s3 bucket "));
    let md = dir.path().join("two.md");
    let out = lsprobe(
        &["report", "markdown", "-o", md.to_str().unwrap()],
        &[&json, &json],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let two = std::fs::read_to_string(&md).unwrap();
    assert_eq!(two.matches("## lsprobe: ").count(), 2, "{two}");
}

#[test]
fn markdown_of_a_load_run_shows_the_figures_and_the_verdict() {
    let Some((_turn, env)) = s3_env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = load_into(&env, dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(md.contains("### Load: closed loop, 2 workers"), "{md}");
    assert!(md.contains("\n| get | "), "{md}");
    assert!(md.contains("\n| put | "), "{md}");
    assert!(md.contains("**Verdict: ✅ fast enough**"), "{md}");
}

#[test]
fn a_file_that_is_not_a_report_is_bad_input_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("notes.json");
    std::fs::write(&bad, "[1, 2").unwrap();
    let out = lsprobe(&["report", "markdown"], &[&bad]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("notes.json:1:"),
        "{}",
        text(&out.stderr)
    );
    let out = lsprobe(&["report", "markdown"], &[&dir.path().join("absent.json")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("absent.json"),
        "{}",
        text(&out.stderr)
    );
}

/// The latency histogram `field` of `op` in a JSON report, decoded with hdrhistogram itself.
fn histogram(report: &serde_json::Value, op: &str, field: &str) -> hdrhistogram::Histogram<u64> {
    use base64::Engine as _;
    let encoded = report["load"]["ops"][op][field]
        .as_str()
        .unwrap_or_else(|| panic!("{op}.{field} in {}", report["load"]));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .unwrap()
}

/// Every (value, count) a histogram recorded.
fn recorded(h: &hdrhistogram::Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn merge_of_three_parallel_runs_equals_one_histogram_of_all_their_samples() {
    let Some((_turn, env)) = s3_env() else { return };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // Three copies at once, as an Indexed Job would run them.
    let children: Vec<_> = dirs
        .iter()
        .map(|d| {
            let mut args = vec![
                "load",
                "--duration",
                "3s",
                "--warmup",
                "0s",
                "--concurrency",
                "2",
                "--objects",
                "4",
                "--sizes",
                "4KiB",
                "--mix",
                "get=80,put=20",
                "--format",
                "json",
                "--report-dir",
            ];
            args.push(d.path().to_str().unwrap());
            args.push("--env-file");
            std::process::Command::new(assert_cmd::cargo::cargo_bin("lsprobe"))
                .env_clear()
                .args(&args)
                .arg(&env)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let paths: Vec<PathBuf> = dirs.iter().map(|d| d.path().join("report.json")).collect();
    let copies: Vec<serde_json::Value> = paths.iter().map(|p| read_json(p)).collect();

    let merged_path = dirs[0].path().join("merged.json");
    let path_refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let out = lsprobe(
        &["report", "merge", "-o", merged_path.to_str().unwrap()],
        &path_refs,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let merged = read_json(&merged_path);
    support::check::validate_schema(&merged);

    for op in ["get", "put"] {
        for field in ["histogram", "ttfb_histogram"] {
            if op == "put" && field == "ttfb_histogram" {
                continue;
            }
            // One histogram built from every copy's samples.
            let mut all = histogram(&copies[0], op, field);
            all.auto(true);
            for copy in &copies[1..] {
                all.add(histogram(copy, op, field)).unwrap();
            }
            let got = histogram(&merged, op, field);
            assert_eq!(recorded(&got), recorded(&all), "{op} {field}");
            assert!(!got.is_empty(), "{op} {field}");
        }
        let all = {
            let mut h = histogram(&copies[0], op, "histogram");
            h.auto(true);
            for copy in &copies[1..] {
                h.add(histogram(copy, op, "histogram")).unwrap();
            }
            h
        };
        let stats = &merged["load"]["ops"][op];
        assert_eq!(
            stats["latency_ms"]["p99"].as_f64().unwrap(),
            all.value_at_quantile(0.99) as f64 / 1000.0,
            "{op}"
        );
        let sum = |field: &str| -> u64 {
            copies
                .iter()
                .map(|c| c["load"]["ops"][op][field].as_u64().unwrap())
                .sum()
        };
        assert_eq!(stats["count"].as_u64().unwrap(), sum("count"), "{op}");
        assert_eq!(stats["errors"].as_u64().unwrap(), sum("errors"), "{op}");
        assert!(stats["ops_per_s"].as_f64().unwrap() > 0.0, "{op}");
    }
    // The timelines hold every request they held before, aligned on one clock.
    let timeline_total = |r: &serde_json::Value| -> u64 {
        r["load"]["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["count"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        timeline_total(&merged),
        copies.iter().map(timeline_total).sum::<u64>()
    );
    // The verdict is judged again, and says which files it merged.
    let verdict = merged["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "load.verdict")
        .unwrap();
    assert_eq!(verdict["status"], "pass", "{verdict}");
    assert_eq!(
        verdict["evidence"]["merged_from"].as_array().unwrap().len(),
        3
    );
    assert_eq!(merged["load"]["concurrency"], 6);
    assert_eq!(merged["load"]["verdict"]["slow"], false);

    // A copy of another target or another plan is refused, naming the file.
    for (name, edit) in [
        ("other-bucket.json", "/target/bucket"),
        ("other-plan.json", "/load/plan/objects"),
    ] {
        let mut changed = copies[2].clone();
        let field = changed.pointer_mut(edit).unwrap();
        *field = match field {
            serde_json::Value::String(_) => "another-bucket".into(),
            _ => 99.into(),
        };
        let path = dirs[2].path().join(name);
        std::fs::write(&path, serde_json::to_vec(&changed).unwrap()).unwrap();
        let out = lsprobe(
            &[
                "report",
                "merge",
                "-o",
                dirs[2].path().join("x.json").to_str().unwrap(),
            ],
            &[&paths[0], &path],
        );
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(text(&out.stderr).contains(name), "{}", text(&out.stderr));
        assert!(!dirs[2].path().join("x.json").exists());
    }
}

/// `lsprobe report compare --format json BASE NEW --max-regression P`: exit code and decisions.
fn compare(base: &Path, new: &Path, max_regression: &str) -> (i32, serde_json::Value) {
    let out = lsprobe(
        &[
            "report",
            "compare",
            "--format",
            "json",
            "--max-regression",
            max_regression,
        ],
        &[base, new],
    );
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
    (out.status.code().unwrap_or(-1), json)
}

fn regressions(comparison: &serde_json::Value) -> Vec<String> {
    comparison["ops"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| {
            o["changes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["regression"] == true)
                .map(|c| {
                    format!(
                        "{} {}",
                        o["op"].as_str().unwrap(),
                        c["metric"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_flags_fifty_injected_ms_and_not_a_rerun() {
    use delay_proxy::{DelayProxy, DelaySpec};
    let Some(env) = support::env_file(Kind::S3Iam, S3User::Full) else {
        return;
    };
    let emu = support::emulators().unwrap();
    let upstream: std::net::SocketAddr = format!("127.0.0.1:{}", emu.port(Kind::S3Iam).unwrap())
        .parse()
        .unwrap();
    // The same proxy in every run, so only the injected delay differs.
    let mut reports = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    for (name, delay) in [("base", 0), ("rerun", 0), ("delayed", 50)] {
        let proxy = DelayProxy::start(
            upstream,
            DelaySpec {
                delay: Duration::from_millis(delay),
                ..Default::default()
            },
        )
        .await;
        let endpoint = format!("http://{}", proxy.addr);
        let report_dir = dir.path().join(name);
        let env = env.clone();
        let out = tokio::task::spawn_blocking({
            let report_dir = report_dir.clone();
            move || {
                let dir = report_dir.to_str().unwrap();
                lsprobe(
                    &[
                        "load",
                        "--endpoint",
                        &endpoint,
                        "--mix",
                        "get=1",
                        "--sizes",
                        "4KiB",
                        "--requests",
                        "80",
                        "--concurrency",
                        "2",
                        "--objects",
                        "4",
                        "--warmup",
                        "0s",
                        "--format",
                        "json",
                        "--report-dir",
                        dir,
                        "--env-file",
                    ],
                    &[&env],
                )
            }
        })
        .await
        .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{name}: {}",
            text(&out.stderr)
        );
        reports.push(report_dir.join("report.json"));
    }
    // A threshold (twice as slow) above what a busy machine swings between two runs (up to a
    // third, seen with the other tests running), far below 50 ms added to a loopback GET of
    // ~10 ms: the decisions, not the machine's speed, are under test.
    let (code, rerun) = compare(&reports[0], &reports[1], "100");
    assert_eq!(regressions(&rerun), Vec::<String>::new(), "{rerun:#}");
    assert_eq!(code, 0, "{rerun:#}");

    let (code, delayed) = compare(&reports[0], &reports[2], "100");
    let found = regressions(&delayed);
    assert!(found.contains(&"get p50".to_string()), "{delayed:#}");
    assert!(found.contains(&"get throughput".to_string()), "{delayed:#}");
    assert_eq!(code, 1, "{delayed:#}");
    let p50 = &delayed["ops"][0]["changes"][1];
    assert_eq!(p50["metric"], "p50");
    assert_eq!(p50["beyond_noise"], true);
    assert!(p50["new"].as_f64().unwrap() >= 50.0, "{p50}");
    // 80 requests leave too few beyond p99 to judge it.
    let p99 = &delayed["ops"][0]["changes"][2];
    assert_eq!(p99["beyond_noise"], serde_json::Value::Null, "{p99}");

    // The text says the same for people.
    let out = lsprobe(&["report", "compare"], &[&reports[0], &reports[2]]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout);
    assert!(said.contains("REGRESSION"), "{said}");
    assert!(
        said.contains("noise: p50/p99 by 95% order-statistic intervals"),
        "{said}"
    );

    // A bad threshold or a report without load figures is bad input, named.
    let out = lsprobe(
        &["report", "compare", "--max-regression=-5"],
        &[&reports[0], &reports[1]],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--max-regression"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn html_of_a_load_run_and_a_check_opens_offline_with_every_plot() {
    let Some((_turn, env)) = s3_env() else { return };
    let Some(chromium) = support::browser::chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let load_dir = dir.path().join("load");
    let out = load_into(&env, &load_dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let check_dir = dir.path().join("check");
    let out = lsprobe(
        &[
            "check",
            "--suite",
            "full",
            "--report-dir",
            check_dir.to_str().unwrap(),
            "--env-file",
        ],
        &[&env],
    );
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        text(&out.stderr)
    );

    // `--format html` wrote one; `report html` puts both side by side.
    let html_path = load_dir.join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    let both = dir.path().join("both.html");
    let out = lsprobe(
        &["report", "html", "-o", both.to_str().unwrap()],
        &[
            &check_dir.join("report.json"),
            &load_dir.join("report.json"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Nothing is fetched at view time: no reference to any other resource.
    for page in [&html, &std::fs::read_to_string(&both).unwrap()] {
        for needle in ["src=", "href=\"http", "url(", "@import", "<script", "<link"] {
            assert!(!page.contains(needle), "{needle} in the HTML");
        }
    }

    for (file, reports) in [(&html_path, 1), (&both, 2)] {
        let (dom, log) = support::browser::open_offline(&chromium, file);
        assert!(dom.contains("<h1>lsprobe: s3 bucket"), "{dom}\n{log}");
        let console = support::browser::console_messages(&log);
        assert!(console.is_empty(), "{console:#?}");
        let load = reports - 1;
        for id in [
            format!("plot-{load}-percentiles-get"),
            format!("plot-{load}-percentiles-put"),
            format!("plot-{load}-throughput"),
            format!("plot-{load}-latency"),
        ] {
            let at = dom
                .find(&format!("id=\"{id}\""))
                .unwrap_or_else(|| panic!("no {id} in {file:?}"));
            let svg = &dom[at..];
            assert!(
                svg[..svg.find("</div>").unwrap()].contains("<polyline"),
                "{id} holds no drawn line"
            );
        }
        assert_eq!(dom.matches("<section id=\"report-").count(), reports);
    }
    let (dom, _) = support::browser::open_offline(&chromium, &both);
    assert!(
        dom.contains("fixes cors.preflight.") || dom.contains("pass</td>"),
        "{dom}"
    );
}
