//! `lsprobe load` on a bucket in another region than STORAGE_AWS_REGION_NAME: S3 answers as it
//! does (the cloud-answer fixtures' stand-in in front of the emulator refuses what is signed
//! for the configured region, naming the bucket's), and botocore follows that answer for every
//! API call Label Studio makes (the oracle: `cloud_answers::boto3_follows_the_wrong_region_
//! answers_and_its_presigned_url_fails`). So the run measures the bucket in its own region and
//! says which region to set, instead of counting every request as failed.
mod support;

use std::time::Duration;

use lsprobe::emulators::{Kind, S3User};
use support::check::{edited_env_file, validate_schema};
use support::cloud_answers::{Fixture, StandIn, socket_of};

#[test]
fn a_bucket_in_another_region_is_measured_there_and_the_region_named() {
    for (name, region) in [
        ("s3-wrong-region-400", "eu-west-1"),
        ("s3-wrong-region-301", "eu-central-1"),
    ] {
        let Some(env) = support::env_file(Kind::S3, S3User::Full) else {
            return;
        };
        let fixture = Fixture::load(name);
        let text = std::fs::read_to_string(&env).unwrap();
        let endpoint = text
            .lines()
            .find_map(|l| l.strip_prefix("STORAGE_AWS_ENDPOINT_URL="))
            .expect("the emulator's endpoint")
            .trim_matches('"')
            .to_string();
        let upstream = socket_of(&endpoint);
        let stand_in = StandIn::start(upstream, fixture.answer.clone());
        let through = endpoint.replacen(&upstream.to_string(), &stand_in.addr.to_string(), 1);
        let folder = format!("region-{}", uuid::Uuid::new_v4().simple());
        let edited = edited_env_file(
            &env,
            &[
                ("STORAGE_AWS_ENDPOINT_URL", Some(&through)),
                ("STORAGE_AWS_REGION_NAME", Some("us-east-1")),
                ("STORAGE_AWS_FOLDER", Some(&folder)),
            ],
            &format!("load-{name}.list"),
        );
        let out = assert_cmd::Command::cargo_bin("lsprobe")
            .unwrap()
            .env_clear()
            .args(["load", "--format", "json", "--env-file"])
            .arg(&edited)
            .args(["--duration", "2s", "--warmup", "0s", "--concurrency", "4"])
            .args(["--objects", "10"])
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name}: {e}\n{stderr}"));
        validate_schema(&report);
        assert_eq!(out.status.code(), Some(0), "{name}: {report}\n{stderr}");
        for op in ["get", "put", "head"] {
            let figures = &report["load"]["ops"][op];
            assert!(figures["count"].as_u64().unwrap() > 0, "{name} {op}");
            assert_eq!(figures["errors"], 0, "{name} {op}: {figures}");
        }
        assert!(
            stderr.contains(&format!("region {region}"))
                && stderr.contains(&format!("STORAGE_AWS_REGION_NAME={region}")),
            "{name}: the region is named: {stderr}"
        );
        let verdict = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "load.verdict")
            .unwrap();
        assert_eq!(verdict["evidence"]["bucket_region"], region, "{verdict}");
        assert_eq!(verdict["evidence"]["configured_region"], "us-east-1");
        let cleanup = &report["cleanup"];
        assert!(
            cleanup["deleted"].as_u64().unwrap() > 0,
            "{name}: {cleanup}"
        );
        assert_eq!(
            cleanup["leftover"],
            serde_json::json!([]),
            "{name}: {cleanup}"
        );
    }
}
