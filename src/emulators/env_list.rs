//! The Label Studio `env.list` that reaches each emulator. The secrets in it are the emulators'
//! throw-away test keys, printed on purpose: this is the only place lsprobe prints them.
use super::{
    AZURE_ACCOUNT, AZURE_KEY, BUCKET, EmulatorError, Emulators, FOLDER, GCS_PROJECT, Kind,
    LABEL_STUDIO_HOST, S3RVER_KEY, S3User,
};

/// The variables, in the order they are printed.
pub fn env_list(
    emu: &Emulators,
    kind: Kind,
    user: S3User,
) -> Result<Vec<(String, String)>, EmulatorError> {
    let running = emu.require(kind)?;
    let endpoint = running.endpoint();
    let pairs: Vec<(&str, String)> = match kind {
        Kind::S3 | Kind::S3Iam => {
            let (id, secret) = if kind == Kind::S3 {
                (S3RVER_KEY.to_string(), S3RVER_KEY.to_string())
            } else {
                let keys = running.users.get(user.name()).ok_or_else(|| {
                    EmulatorError::BadInput(format!(
                        "the s3-iam emulator has no user `{}` recorded; restart it with \
                         `lsprobe emulators down --provider s3-iam && lsprobe emulators up --provider s3-iam`",
                        user.name()
                    ))
                })?;
                (keys.access_key_id.clone(), keys.secret_access_key.clone())
            };
            vec![
                ("STORAGE_TYPE", "s3".into()),
                ("STORAGE_AWS_ACCESS_KEY_ID", id),
                ("STORAGE_AWS_SECRET_ACCESS_KEY", secret),
                ("STORAGE_AWS_BUCKET_NAME", BUCKET.into()),
                ("STORAGE_AWS_REGION_NAME", "us-east-1".into()),
                ("STORAGE_AWS_ENDPOINT_URL", endpoint),
                ("STORAGE_AWS_FOLDER", FOLDER.into()),
            ]
        }
        Kind::Gcs => vec![
            ("STORAGE_TYPE", "gcs".into()),
            ("STORAGE_GCS_BUCKET_NAME", BUCKET.into()),
            ("STORAGE_GCS_PROJECT_ID", GCS_PROJECT.into()),
            ("STORAGE_GCS_ENDPOINT", endpoint),
            ("STORAGE_GCS_FOLDER", FOLDER.into()),
            (
                "GOOGLE_APPLICATION_CREDENTIALS",
                emu.gcs_credentials_path().to_string_lossy().into_owned(),
            ),
        ],
        Kind::Azure => vec![
            ("STORAGE_TYPE", "azure".into()),
            ("STORAGE_AZURE_ACCOUNT_NAME", AZURE_ACCOUNT.into()),
            ("STORAGE_AZURE_ACCOUNT_KEY", AZURE_KEY.into()),
            ("STORAGE_AZURE_CONTAINER_NAME", BUCKET.into()),
            ("STORAGE_AZURE_FOLDER", FOLDER.into()),
            (
                "LSPROBE_AZURE_ENDPOINT",
                format!("{endpoint}/{AZURE_ACCOUNT}"),
            ),
        ],
    };
    let mut out: Vec<(String, String)> =
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    out.push(("LABEL_STUDIO_HOST".into(), LABEL_STUDIO_HOST.into()));
    Ok(out)
}

/// `KEY=VALUE` lines with a comment naming the emulator, as Docker's `--env-file` reads them
/// (values are printed bare: none of them holds spaces, quotes or newlines).
pub fn render(kind: Kind, pairs: &[(String, String)]) -> String {
    render_for(kind, kind.emulator(), pairs)
}

/// [`render`] naming `emulator` (what actually serves `kind`: moto behind the containers' `s3`).
pub fn render_for(kind: Kind, emulator: &str, pairs: &[(String, String)]) -> String {
    let mut out = format!(
        "# Label Studio storage on the local {kind} emulator ({emulator}), written by lsprobe\n"
    );
    for (k, v) in pairs {
        out.push_str(&format!("{k}={v}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_env_file_lines() {
        let text = render(
            Kind::S3,
            &[("A".into(), "1".into()), ("B".into(), "x".into())],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("# "));
        assert_eq!(&lines[1..], ["A=1", "B=x"]);
    }
}
