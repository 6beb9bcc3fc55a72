//! `lsprobe demo`, the README's first command: it starts the emulators, runs the smoke suite on
//! S3, GCS and Azure, writes the reports, and leaves no emulator behind.
mod support;

use std::net::TcpStream;

#[test]
fn demo_passes_writes_reports_and_stops_its_emulators() {
    // The demo installs and starts emulators itself; make sure they can run here first.
    if support::emulators().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("lsprobe")
        .unwrap()
        .args(["demo", "--report-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for cloud in ["s3", "gcs", "azure"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(cloud))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(line.contains(" 8 "), "{line}");
        let json = std::fs::read_to_string(dir.path().join(cloud).join("report.json")).unwrap();
        let report: serde_json::Value = serde_json::from_str(&json).unwrap();
        support::check::validate_schema(&report);
        assert_eq!(report["summary"]["passed"], 8, "{cloud}");
        assert!(dir.path().join(cloud).join("junit.xml").exists());
        assert!(dir.path().join(cloud).join("summary.md").exists());
    }
    // The HTML report of each cloud opens in a browser with the network off, and says nothing
    // on the console.
    if let Some(chromium) = support::browser::chromium() {
        for cloud in ["s3", "gcs", "azure"] {
            let file = dir.path().join(cloud).join("report.html");
            let (dom, log) = support::browser::open_offline(&chromium, &file);
            assert!(
                dom.contains(&format!("<h1>lsprobe: {cloud} bucket")),
                "{dom}\n{log}"
            );
            assert_eq!(
                dom.matches("<td class=\"pass\">pass</td>").count(),
                8,
                "{dom}"
            );
            let console = support::browser::console_messages(&log);
            assert!(console.is_empty(), "{console:#?}");
        }
    }
    // Every emulator the demo announced is gone.
    let ports: Vec<u16> = stderr
        .lines()
        .filter_map(|l| l.split("runs on http://127.0.0.1:").nth(1))
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    assert_eq!(ports.len(), 3, "{stderr}");
    for port in ports {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still answers after the demo"
        );
    }
}
