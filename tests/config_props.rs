//! Properties of configuration reading: no input makes it panic, and no secret ever reaches
//! `config show` output, text or JSON, at any verbosity.
use lsprobe::config::TargetOptions;
use lsprobe::config::{Resolved, resolve, show};
use proptest::prelude::*;

fn resolve_file(flag: &str, bytes: &[u8]) -> Result<Resolved, lsprobe::config::ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    std::fs::write(&path, bytes).unwrap();
    let mut args = TargetOptions {
        secret_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    match flag {
        "env" => args.env_file = Some(path),
        _ => args.values = Some(path),
    }
    resolve(&args, &[])
}

fn all_outputs(r: &Resolved) -> Vec<String> {
    vec![
        show::text(r, false),
        show::text(r, true),
        show::json(r, false),
        show::json(r, true),
        format!("{:?}", r.target),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_bytes_as_env_list_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = resolve_file("env", &bytes);
    }

    #[test]
    fn arbitrary_text_as_env_list_never_panics(text in "(STORAGE_[A-Z_]{0,20}|[A-Za-z_#\"' ]{0,8})(=[ -~]{0,30})?(\r?\n[A-Z_]{1,12}=[ -~]{0,20}){0,6}") {
        let _ = resolve_file("env", text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_as_values_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = resolve_file("values", &bytes);
    }

    #[test]
    fn yaml_like_text_as_values_never_panics(text in "global:\n  persistence:\n(    [a-zA-Z]{1,12}: [ -~]{0,20}\n|    config:\n      (s3|gcs|azure):\n        [a-zA-Z]{1,30}: [ -~]{0,20}\n){0,6}") {
        let _ = resolve_file("values", text.as_bytes());
    }

    #[test]
    fn s3_secrets_never_shown(id in "[A-Z0-9]{16,24}", secret in "[A-Za-z0-9/+]{20,40}") {
        let env_list = format!(
            "STORAGE_TYPE=s3\nSTORAGE_AWS_ACCESS_KEY_ID=\"{id}\"\nSTORAGE_AWS_SECRET_ACCESS_KEY={secret}\nSTORAGE_AWS_BUCKET_NAME=b\n"
        );
        let r = resolve_file("env", env_list.as_bytes()).unwrap();
        for out in all_outputs(&r) {
            prop_assert!(!out.contains(&id) && !out.contains(&secret), "leak in {}", out);
        }
    }

    #[test]
    fn azure_key_and_sas_never_shown(raw in proptest::collection::vec(any::<u8>(), 16..48), sas in "sv=[0-9]{4}&sig=[A-Za-z0-9%]{20,40}") {
        use base64::Engine;
        let key = base64::engine::general_purpose::STANDARD.encode(&raw);
        let values = format!(
            "global:\n  persistence:\n    type: azure\n    config:\n      azure:\n        storageAccountName: acct\n        storageAccountKey: \"{key}\"\n        containerName: c\n"
        );
        let r = resolve_file("values", values.as_bytes()).unwrap();
        for out in all_outputs(&r) {
            prop_assert!(!out.contains(&key), "leak in {}", out);
        }
        let env = vec![
            ("STORAGE_TYPE".to_string(), "azure".to_string()),
            ("STORAGE_AZURE_ACCOUNT_NAME".to_string(), "acct".to_string()),
            ("STORAGE_AZURE_CONTAINER_NAME".to_string(), "c".to_string()),
            ("LSPROBE_AZURE_SAS_TOKEN".to_string(), sas.clone()),
        ];
        let r = resolve(&TargetOptions::default(), &env).unwrap();
        for out in all_outputs(&r) {
            prop_assert!(!out.contains(&sas), "leak in {}", out);
        }
    }

    #[test]
    fn gcs_private_key_never_shown(pk in "[A-Za-z0-9]{30,60}") {
        let json = serde_json::json!({
            "type": "service_account",
            "private_key": pk,
            "client_email": "x@p.iam.gserviceaccount.com",
        })
        .to_string();
        let values = format!(
            "global:\n  persistence:\n    type: gcs\n    config:\n      gcs:\n        bucket: b\n        applicationCredentialsJSON: {}\n",
            serde_json::to_string(&json).unwrap()
        );
        let r = resolve_file("values", values.as_bytes()).unwrap();
        for out in all_outputs(&r) {
            prop_assert!(!out.contains(&pk), "leak in {}", out);
        }
    }
}

#[test]
fn secret_never_in_cli_output_even_verbose() {
    let secret = "ZZsecretZZ0123456789abcdef";
    for extra in [&[][..], &["--verbose"][..], &["--format", "json", "-v"][..]] {
        let out = assert_cmd::Command::cargo_bin("lsprobe")
            .unwrap()
            .env_clear()
            .env("STORAGE_TYPE", "s3")
            .env("STORAGE_AWS_BUCKET_NAME", "b")
            .env("STORAGE_AWS_ACCESS_KEY_ID", "AKIAZZZZ")
            .env("STORAGE_AWS_SECRET_ACCESS_KEY", secret)
            .args(["config", "show"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(secret) && !all.contains("AKIAZZZZ"), "{all}");
        assert!(
            all.contains("STORAGE_AWS_SECRET_ACCESS_KEY") || extra.is_empty(),
            "verbose lists names: {all}"
        );
    }
}
