//! Every configuration variant of Label Studio's persistent-storage guide resolves to the
//! target Label Studio would use.
use std::path::PathBuf;

use lsprobe::config::TargetOptions;
use lsprobe::config::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn values(name: &str) -> Resolved {
    let args = TargetOptions {
        values: Some(fixture(name)),
        secret_dir: Some(fixture("secrets")),
        ..Default::default()
    };
    resolve(&args, &[]).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn env_file(name: &str) -> Resolved {
    let args = TargetOptions {
        env_file: Some(fixture(name)),
        ..Default::default()
    };
    resolve(&args, &[]).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn s3(t: &Target) -> &S3Settings {
    match &t.settings {
        ProviderSettings::S3(s) => s,
        other => panic!("expected S3, got {other:?}"),
    }
}

fn s3_keys(t: &Target) -> (String, String) {
    match &s3(t).credentials {
        S3Credentials::Keys {
            access_key_id,
            secret_access_key,
        } => (
            access_key_id.value.expose().to_string(),
            secret_access_key.value.expose().to_string(),
        ),
        other => panic!("expected S3 keys, got {other:?}"),
    }
}

fn is_default_chain(t: &Target) -> bool {
    matches!(s3(t).credentials, S3Credentials::Chain(_))
}

#[test]
fn s3_access_keys_in_values() {
    let r = values("s3-access-keys.values.yaml");
    let t = &r.target;
    assert_eq!(t.provider(), Provider::S3);
    assert_eq!(t.bucket.value, "ls-media");
    assert_eq!(t.region.as_ref().unwrap().value, "eu-west-1");
    assert_eq!(t.folder.value, "");
    assert_eq!(t.url_expiry_secs.value, 86_400);
    assert_eq!(
        s3_keys(t),
        (
            "AKIAFIXTUREKEYID0001".into(),
            "fixture-secret-access-key-s3-0001".into()
        )
    );
    assert!(
        matches!(&t.bucket.source, Source::Values { key_path, line: 9, .. }
        if key_path == "global.persistence.config.s3.bucket")
    );
}

#[test]
fn s3_irsa_uses_default_chain_and_names_the_role() {
    let r = values("s3-irsa.values.yaml");
    assert!(is_default_chain(&r.target));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("arn:aws:iam::123456789012:role/label-studio")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn s3_node_role_uses_default_chain_and_normalizes_folder() {
    let r = values("s3-node-role.values.yaml");
    assert!(is_default_chain(&r.target));
    assert_eq!(r.target.folder.value, "label-studio");
    assert_eq!(r.target.folder_prefix(), "label-studio/");
}

#[test]
fn s3_existing_secret_reads_mounted_files() {
    let r = values("s3-existing-secret.values.yaml");
    assert_eq!(
        s3_keys(&r.target),
        (
            "AKIAFIXTURESECRETDIR".into(),
            "fixture-secret-from-k8s-secret".into()
        )
    );
}

#[test]
fn s3_docker_compose_env_list() {
    let r = env_file("s3-compose.env.list");
    let t = &r.target;
    assert_eq!(t.bucket.value, "ls-media");
    assert_eq!(t.region.as_ref().unwrap().value, "ap-south-1");
    assert_eq!(s3_keys(t).0, "AKIAFIXTUREKEYID0002");
    assert!(
        matches!(&t.bucket.source, Source::EnvFile { line: 5, key, .. }
        if key == "STORAGE_AWS_BUCKET_NAME")
    );
}

fn gcs(t: &Target) -> &GcsSettings {
    match &t.settings {
        ProviderSettings::Gcs(g) => g,
        other => panic!("expected GCS, got {other:?}"),
    }
}

#[test]
fn gcs_workload_identity_uses_metadata_server() {
    let r = values("gcs-workload-identity.values.yaml");
    let g = gcs(&r.target);
    assert!(matches!(
        g.credentials,
        GcsCredentials::MetadataServer { .. }
    ));
    assert_eq!(g.project_id.as_ref().unwrap().value, "ls-project");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("label-studio@ls-project.iam.gserviceaccount.com"))
    );
}

#[test]
fn gcs_inline_key() {
    let r = values("gcs-key-inline.values.yaml");
    match &gcs(&r.target).credentials {
        GcsCredentials::ServiceAccount {
            client_email, json, ..
        } => {
            assert_eq!(
                client_email.as_deref(),
                Some("label-studio@ls-project.iam.gserviceaccount.com")
            );
            assert!(json.expose().contains("service_account"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.target.folder.value, "uploads");
}

#[test]
fn gcs_existing_secret() {
    let r = values("gcs-existing-secret.values.yaml");
    assert!(matches!(
        &gcs(&r.target).credentials,
        GcsCredentials::ServiceAccount { source: Source::File { path }, .. } if path.ends_with("ls-gcs/key_json")
    ));
}

#[test]
fn gcs_docker_compose_with_a_local_copy_of_the_key() {
    let args = TargetOptions {
        env_file: Some(fixture("gcs-compose.env.list")),
        gcs_credentials: Some(fixture("gcs-sa.json")),
        ..Default::default()
    };
    let r = resolve(&args, &[]).unwrap();
    assert!(matches!(
        gcs(&r.target).credentials,
        GcsCredentials::ServiceAccount { .. }
    ));
    // Without the flag, the container path does not exist here: a clear error.
    let args = TargetOptions {
        env_file: Some(fixture("gcs-compose.env.list")),
        ..Default::default()
    };
    let err = resolve(&args, &[]).unwrap_err().0;
    assert!(err.contains("/opt/heartex/secrets/key.json"), "{err}");
    assert!(err.contains("--gcs-credentials"), "{err}");
}

fn azure(t: &Target) -> &AzureSettings {
    match &t.settings {
        ProviderSettings::Azure(a) => a,
        other => panic!("expected Azure, got {other:?}"),
    }
}

#[test]
fn azure_key_in_values() {
    let r = values("azure-key.values.yaml");
    let a = azure(&r.target);
    assert_eq!(a.account_name.value, "lsaccount");
    assert_eq!(r.target.bucket.value, "ls-container");
    assert!(matches!(&a.credentials, AzureCredentials::AccountKey(k)
        if k.value.expose() == "Zml4dHVyZS1henVyZS1hY2NvdW50LWtleS0wMDAx"));
}

#[test]
fn azure_existing_secret() {
    let r = values("azure-existing-secret.values.yaml");
    let a = azure(&r.target);
    assert_eq!(a.account_name.value, "lssecretaccount");
    assert!(matches!(&a.credentials, AzureCredentials::AccountKey(k)
        if k.value.expose() == "Zml4dHVyZS1henVyZS1rZXktZnJvbS1zZWNyZXQ="));
}

#[test]
fn azure_docker_compose_env_list() {
    let r = env_file("azure-compose.env.list");
    assert_eq!(azure(&r.target).account_name.value, "lsaccount");
    assert_eq!(r.target.bucket.value, "ls-container");
}

#[test]
fn precedence_is_flag_then_file_then_environment() {
    let env = vec![
        (
            "STORAGE_AWS_BUCKET_NAME".to_string(),
            "from-env".to_string(),
        ),
        (
            "LABEL_STUDIO_STORAGE_AWS_FOLDER".to_string(),
            "env-folder".to_string(),
        ),
        (
            "STORAGE_AWS_REGION_NAME".to_string(),
            "env-region".to_string(),
        ),
    ];
    let mut args = TargetOptions {
        env_file: Some(fixture("s3-compose.env.list")),
        ..Default::default()
    };
    let r = resolve(&args, &env).unwrap();
    assert_eq!(r.target.bucket.value, "ls-media", "file beats environment");
    assert_eq!(
        r.target.folder.value, "",
        "the file's empty folder is set: Label Studio's get_env returns \"\" (bucket root)"
    );
    assert_eq!(r.target.region.as_ref().unwrap().value, "ap-south-1");
    args.bucket = Some("from-flag".into());
    let r = resolve(&args, &env).unwrap();
    assert_eq!(r.target.bucket.value, "from-flag");
    assert_eq!(
        r.target.bucket.source,
        Source::Flag {
            flag: "--bucket".into()
        }
    );
}

#[test]
fn environment_alone_with_label_studio_prefixes() {
    let env: Vec<(String, String)> = [
        ("LABEL_STUDIO_STORAGE_TYPE", "azure"),
        ("HEARTEX_STORAGE_AZURE_ACCOUNT_NAME", "acct"),
        ("STORAGE_AZURE_ACCOUNT_KEY", "a2V5"),
        ("STORAGE_AZURE_CONTAINER_NAME", "c"),
        ("LSPROBE_AZURE_ENDPOINT", "http://127.0.0.1:10000/acct"),
        ("LABEL_STUDIO_HOST", "https://ls.example.com/"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let r = resolve(&TargetOptions::default(), &env).unwrap();
    assert_eq!(r.target.provider(), Provider::Azure);
    assert_eq!(
        r.target.endpoint.as_ref().unwrap().value.as_str(),
        "http://127.0.0.1:10000/acct"
    );
    assert_eq!(r.target.origins[0].value, "https://ls.example.com");
}

#[test]
fn a_pod_role_that_differs_from_the_chart_annotation_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(fixture("s3-irsa.values.yaml")).unwrap();
    let values = dir.path().join("ls-values.yaml");
    let token = dir.path().join("token");
    std::fs::write(&token, "t").unwrap();
    std::fs::write(
        &values,
        base.replacen(
            "global:\n",
            &format!(
                "global:\n  extraEnvironmentVars:\n    AWS_ROLE_ARN: arn:aws:iam::123456789012:role/other\n    AWS_WEB_IDENTITY_TOKEN_FILE: {}\n",
                token.display()
            ),
            1,
        ),
    )
    .unwrap();
    let args = TargetOptions {
        values: Some(values),
        ..Default::default()
    };
    let r = resolve(&args, &[]).unwrap();
    match &s3(&r.target).credentials {
        S3Credentials::Chain(c) => assert!(matches!(**c, AwsChain::WebIdentity { .. }), "{c:?}"),
        other => panic!("{other:?}"),
    }
    let warning = r
        .warnings
        .iter()
        .find(|w| w.contains("differs from the service account's eks.amazonaws.com/role-arn"))
        .unwrap_or_else(|| panic!("{:?}", r.warnings));
    assert!(
        warning.contains("role/other") && warning.contains("ls-values.yaml:"),
        "{warning}"
    );
}
