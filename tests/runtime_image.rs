//! The runtime image as a user runs it: docker/Dockerfile's final stage, built here from Debian
//! packages (docker/local/build-runtime-image.sh) around this test's own lsprobe, then run
//! against the emulators on loopback -- from its root filesystem (chroot, non-root) and as a
//! container (`podman run --network host`, the image's own user and entrypoint): `check
//! --suite full` passes, reports land on a mounted volume, the container's exit code is the
//! check's, and TLS is verified against the image's CA bundle.
#[path = "support/runtime_image.rs"]
mod image;
mod support;

use std::path::Path;
use std::process::Command;

use image::{config_dir, env_pairs, podman, podman_ok, put, reports_dir, run_container};
use lsprobe::emulators::{Kind, S3User};
use support::check::{edited_env_file, validate_schema};

/// The Dockerfile's final stage: (INSTRUCTION, arguments), line continuations joined.
fn runtime_stage() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(image::repo().join("docker/Dockerfile")).unwrap();
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    let last_from = joined.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    joined[last_from..]
        .iter()
        .filter_map(|l| l.split_once(' '))
        .map(|(i, rest)| (i.to_string(), rest.trim().to_string()))
        .collect()
}

/// `key="value" key2="value2"` of a LABEL instruction.
fn label_pairs(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once("=\"") {
        let end = after.find('"').expect("a closing quote");
        pairs.push((key.trim().to_string(), after[..end].to_string()));
        rest = after[end + 1..].trim();
    }
    pairs
}

#[test]
fn the_image_is_the_dockerfiles_runtime_stage_without_emulators() {
    let Some(tag) = image::image() else {
        return;
    };
    let config: serde_json::Value = serde_json::from_str(&podman_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        tag,
    ]))
    .unwrap();
    let stage = runtime_stage();
    let one = |name: &str| {
        stage
            .iter()
            .find(|(i, _)| i == name)
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| panic!("the Dockerfile's runtime stage has no {name}"))
    };
    // The user is made by the same commands in both builds.
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let run = squeeze(&one("RUN"));
    let script =
        std::fs::read_to_string(image::repo().join("docker/local/build-runtime-image.sh")).unwrap();
    for command in [
        "groupadd --gid 65532 lsprobe",
        "useradd --uid 65532 --gid 65532 --create-home --home-dir /home/lsprobe --shell /usr/sbin/nologin lsprobe",
    ] {
        assert!(run.contains(command), "the Dockerfile runs {command}");
        assert!(
            script.contains(command),
            "build-runtime-image.sh runs {command}"
        );
    }
    assert_eq!(config["User"], one("USER"));
    assert_eq!(config["WorkingDir"], one("WORKDIR"));
    let json = |s: String| serde_json::from_str::<serde_json::Value>(&s).unwrap();
    assert_eq!(config["Entrypoint"], json(one("ENTRYPOINT")));
    assert_eq!(config["Cmd"], json(one("CMD")));
    let labels = label_pairs(&one("LABEL"));
    assert!(labels.len() >= 4, "{labels:?}");
    for (key, value) in labels {
        let seen = config["Labels"][&key].as_str();
        match value.as_str() {
            "${VERSION}" => assert_eq!(seen, Some(env!("CARGO_PKG_VERSION")), "{key}"),
            v if v.contains("${") => assert!(seen.is_some(), "{key}"),
            v => assert_eq!(seen, Some(v), "{key}"),
        }
    }

    // Inside: the pinned packages at their versions, the user, the CA bundle, and nothing else
    // in /usr/local/bin (no emulator, no node or python to run one).
    let packages = one("ARG")
        .strip_prefix("RUNTIME_PACKAGES=")
        .map(|p| p.trim_matches('"').to_string())
        .expect("the first ARG of the runtime stage is RUNTIME_PACKAGES");
    let script = "id -u; id -g; getent passwd lsprobe | cut -d: -f6; \
        grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt; ls /usr/local/bin; \
        for p in node npm python3 java azurite s3rver moto_server fake-gcs-server; do \
          command -v $p; done; \
        for p in $0; do dpkg-query -W -f '${Package}=${Version}\\n' \"${p%%=*}\"; done";
    let out = podman_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/sh",
        tag,
        "-c",
        script,
        &packages,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "65532", "uid: {out}");
    assert_eq!(lines[1], "65532", "gid: {out}");
    assert_eq!(lines[2], "/home/lsprobe", "home: {out}");
    let certs: usize = lines[3].parse().unwrap();
    assert!(
        certs >= 100,
        "Debian's CA bundle holds {certs} certificates"
    );
    assert_eq!(lines[4], "lsprobe", "/usr/local/bin: {out}");
    assert_eq!(
        &lines[5..],
        packages.split_whitespace().collect::<Vec<_>>(),
        "no emulator or runtime of one on PATH, and the pinned package versions installed"
    );
}

#[test]
fn the_build_script_names_a_bad_binary_and_builds_nothing() {
    if image::image().is_none() {
        return;
    }
    let missing = image::repo().join("target/no-such-lsprobe");
    let out = Command::new("bash")
        .arg(image::repo().join("docker/local/build-runtime-image.sh"))
        .arg(&missing)
        .env("LSPROBE_IMAGE", "localhost/lsprobe:never-built")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&*missing.to_string_lossy()), "{stderr}");
    assert!(
        stderr.contains("pass the path of a built lsprobe"),
        "{stderr}"
    );
    assert!(
        !podman(&["image", "exists", "localhost/lsprobe:never-built"])
            .status
            .success()
    );
}

/// Deletes the container (and so its root filesystem) when dropped.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", &self.0]);
    }
}

#[test]
fn lsprobe_from_the_images_root_filesystem_passes_check_as_non_root() {
    let Some(tag) = image::image() else {
        return;
    };
    let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    // A container's root filesystem (a copy of the image's), entered with chroot as 65532.
    let container = Container(podman_ok(&["create", tag]).trim().to_string());
    let root = podman_ok(&["mount", &container.0]).trim().to_string();
    let chroot = |args: &[&str]| {
        Command::new("/usr/sbin/chroot")
            .args(["--userspec=65532:65532", "--groups=65532", &root])
            .args(args)
            .env_clear()
            .envs(env_pairs(&env))
            .output()
            .expect("chroot runs")
    };
    let id = chroot(&["/usr/bin/id", "-u"]);
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim(), "65532");
    let out = chroot(&["/usr/local/bin/lsprobe", "check", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    validate_schema(&report);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["summary"]["failed"], 0, "{report}");
    assert_eq!(report["summary"]["errors"], 0, "{report}");
    assert_eq!(report["target"]["provider"], "s3");
}

/// The reports a `--report-dir /reports` run left: report.json valid and owned by the image's
/// user, junit.xml naming every check.
fn assert_reports(reports: &Path, report: &serde_json::Value) {
    use std::os::unix::fs::MetadataExt;
    validate_schema(report);
    let junit = std::fs::read_to_string(reports.join("junit.xml")).expect("junit.xml");
    for check in report["checks"].as_array().unwrap() {
        let id = check["id"].as_str().unwrap();
        assert!(
            junit.contains(&format!("\"{id}\"")),
            "{id} not in junit.xml"
        );
    }
    for file in ["report.json", "junit.xml"] {
        let meta = std::fs::metadata(reports.join(file)).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (65532, 65532),
            "{file} written by the image's user"
        );
    }
}

#[test]
fn the_container_passes_the_full_suite_on_each_cloud_and_writes_reports_to_the_volume() {
    if image::image().is_none() {
        return;
    }
    for kind in [Kind::S3, Kind::Gcs, Kind::Azure] {
        let Some(env) = support::env_file(kind, S3User::Full) else {
            return;
        };
        let config = config_dir();
        let reports = reports_dir();
        let env_in = put(config.path(), &env, "env.list");
        let mut args = vec![
            "check",
            "--env-file",
            &env_in,
            "--suite",
            "full",
            "--format",
            "json",
            "--format",
            "junit",
            "--report-dir",
            "/reports",
        ];
        // The service-account JSON as Kubernetes mounts it: a file beside the env.list.
        let credentials = env_pairs(&env)
            .into_iter()
            .find(|(k, _)| k == "GOOGLE_APPLICATION_CREDENTIALS")
            .map(|(_, path)| put(config.path(), Path::new(&path), "gcs.json"));
        if let Some(c) = &credentials {
            args.extend(["--gcs-credentials", c]);
        }
        let run = run_container(config.path(), reports.path(), &[], &args);
        let report = run
            .report
            .unwrap_or_else(|| panic!("{kind}: no report.json: {}", run.stderr));
        assert_eq!(run.code, 0, "{kind}: {report}\n{}", run.stderr);
        assert_eq!(report["exit_code"], 0);
        assert_eq!(report["target"]["provider"], kind.name());
        assert_eq!(report["summary"]["failed"], 0, "{kind}: {report}");
        assert_eq!(report["summary"]["errors"], 0, "{kind}: {report}");
        assert!(
            report["summary"]["passed"].as_u64().unwrap() >= 10,
            "{report}"
        );
        assert!(report["cleanup"]["leftover"].as_array().unwrap().is_empty());
        assert_reports(&run.reports, &report);
    }
}

#[test]
fn the_env_list_can_be_the_containers_environment() {
    let Some(tag) = image::image() else {
        return;
    };
    let Some(env) = support::env_file(Kind::Azure, S3User::Full) else {
        return;
    };
    // `docker run --env-file env.list`, as Label Studio's own container is started.
    let env_arg = env.to_string_lossy().into_owned();
    let out = podman(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--env-file",
        &env_arg,
        tag,
        "check",
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    validate_schema(&report);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["target"]["provider"], "azure");
    assert_eq!(report["summary"]["failed"], 0, "{report}");
}

#[test]
fn the_containers_exit_code_is_the_checks() {
    if image::image().is_none() {
        return;
    }
    let Some(env) = support::env_file(Kind::S3Iam, S3User::Full) else {
        return;
    };
    // A wrong secret key: the check fails (1), and so does the container.
    let wrong = edited_env_file(
        &env,
        &[("STORAGE_AWS_SECRET_ACCESS_KEY", Some("not-the-secret"))],
        "s3-iam-wrong-secret.list",
    );
    let config = config_dir();
    let reports = reports_dir();
    let env_in = put(config.path(), &wrong, "env.list");
    let args = [
        "check",
        "--env-file",
        &env_in,
        "--format",
        "json",
        "--format",
        "junit",
        "--report-dir",
        "/reports",
    ];
    let run = run_container(config.path(), reports.path(), &[], &args);
    let report = run.report.expect("report.json");
    assert_eq!(run.code, 1, "{report}\n{}", run.stderr);
    assert_eq!(report["exit_code"], 1);
    let list = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "permissions.list")
        .unwrap();
    assert_eq!(list["status"], "fail", "{list}");
    assert!(!run.stderr.contains("not-the-secret") && !run.stdout.contains("not-the-secret"));
    assert_reports(&run.reports, &report);

    // Bad input (an env.list that is not there): 2, naming the file, before any request.
    let reports = reports_dir();
    let run = run_container(
        config.path(),
        reports.path(),
        &[],
        &["check", "--env-file", "/config/missing.list"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("/config/missing.list"),
        "{}",
        run.stderr
    );
}

#[test]
fn tls_is_verified_against_the_images_ca_bundle() {
    let Some(tag) = image::image() else {
        return;
    };
    let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
        return;
    };
    let emu = support::emulators().unwrap();
    let port = support::tls::tls_front(emu.port(Kind::S3).expect("s3rver runs"));
    let endpoint = format!("https://127.0.0.1:{port}");
    let https = edited_env_file(
        &env,
        &[("STORAGE_AWS_ENDPOINT_URL", Some(&endpoint))],
        "s3-https-image.list",
    );
    let config = config_dir();
    let env_in = put(config.path(), &https, "env.list");
    let args = [
        "check",
        "--env-file",
        &env_in,
        "--format",
        "json",
        "--report-dir",
        "/reports",
    ];

    // The image's own bundle (Debian's CAs) does not hold the test CA: refused, in words.
    let reports = reports_dir();
    let run = run_container(config.path(), reports.path(), &[], &args);
    let report = run.report.expect("report.json");
    assert_eq!(run.code, 1, "{report}\n{}", run.stderr);
    let list = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "permissions.list")
        .unwrap();
    let message = list["message"].as_str().unwrap();
    assert!(
        message.contains("TLS handshake failed") && message.contains("not trusted"),
        "{message}"
    );

    // The same bundle with the test CA added, mounted where Debian keeps it (as a cluster
    // mounts its CA bundle): trusted, so lsprobe reads the image's bundle at that path.
    let bundle = podman_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/cat",
        tag,
        "/etc/ssl/certs/ca-certificates.crt",
    ]);
    let ca = std::fs::read_to_string(&support::tls::pki().ca_bundle).unwrap();
    let extended = config.path().join("ca-certificates.crt");
    std::fs::write(&extended, format!("{bundle}{ca}")).unwrap();
    let mount = format!(
        "{}:/etc/ssl/certs/ca-certificates.crt:ro",
        extended.display()
    );
    let reports = reports_dir();
    let run = run_container(
        config.path(),
        reports.path(),
        &["-v".to_string(), mount],
        &args,
    );
    let report = run.report.expect("report.json");
    assert_eq!(run.code, 0, "{report}\n{}", run.stderr);
    assert_eq!(report["summary"]["failed"], 0, "{report}");
    assert_eq!(report["target"]["endpoint"], format!("{endpoint}/"));

    // Or only the cluster's CA, mounted as a file and named by SSL_CERT_FILE.
    put(config.path(), &support::tls::pki().ca_bundle, "ca.pem");
    let reports = reports_dir();
    let extra = ["-e".to_string(), "SSL_CERT_FILE=/config/ca.pem".to_string()];
    let run = run_container(config.path(), reports.path(), &extra, &args);
    let report = run.report.expect("report.json");
    assert_eq!(run.code, 0, "{report}\n{}", run.stderr);
    assert_eq!(report["summary"]["failed"], 0, "{report}");
}
