//! Values that travel in HTTP headers (the access key id and region in `Authorization`, the
//! Azure account name, a session or SAS token, object parameters such as
//! `x-amz-server-side-encryption`) are checked when the configuration is read: a control
//! character or a non-ASCII byte is bad input (exit 2, naming the setting and where it was
//! set), never a panic deep inside a signer. The value itself is never echoed: it may be a
//! secret.
use super::ConfigError;
use super::target::{AzureCredentials, ProviderSettings, S3Credentials, Source, Sourced, Target};

/// Why a value cannot go into a header (None: it can), without showing it.
pub fn problem(value: &str) -> Option<String> {
    value.chars().enumerate().find_map(|(i, c)| {
        let at = i + 1;
        if c.is_ascii_control() {
            Some(format!(
                "contains a control character (byte 0x{:02x} at character {at})",
                c as u32
            ))
        } else if !c.is_ascii() {
            Some(format!(
                "contains a non-ASCII character (U+{:04X} at character {at})",
                c as u32
            ))
        } else {
            None
        }
    })
}

fn check(name: &str, value: &str, source: &Source) -> Result<(), ConfigError> {
    match problem(value) {
        None => Ok(()),
        Some(what) => Err(ConfigError(format!(
            "{name} ({source}) {what}; it is sent in an HTTP header or signature, where that \
             cannot go. Remove it (a stray NUL, tab, carriage return or smart quote usually \
             comes from copying the value)"
        ))),
    }
}

fn sourced(name: &str, v: &Sourced<String>) -> Result<(), ConfigError> {
    check(name, &v.value, &v.source)
}

/// Checks every value of `target` that is sent in a header or a signature.
pub fn validate(target: &Target) -> Result<(), ConfigError> {
    if let Some(region) = &target.region {
        sourced("STORAGE_AWS_REGION_NAME", region)?;
    }
    match &target.settings {
        ProviderSettings::S3(s) => {
            sourced("STORAGE_AWS_BUCKET_NAME", &target.bucket)?;
            if let S3Credentials::Keys {
                access_key_id,
                secret_access_key,
            } = &s.credentials
            {
                check(
                    "STORAGE_AWS_ACCESS_KEY_ID",
                    access_key_id.value.expose(),
                    &access_key_id.source,
                )?;
                check(
                    "STORAGE_AWS_SECRET_ACCESS_KEY",
                    secret_access_key.value.expose(),
                    &secret_access_key.source,
                )?;
            }
            if let Some(params) = &s.object_parameters {
                for (key, value) in &params.value {
                    let text = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_string);
                    check(
                        &format!("STORAGE_AWS_OBJECT_PARAMETERS key `{key}`"),
                        &format!("{key}{text}"),
                        &params.source,
                    )?;
                }
            }
        }
        ProviderSettings::Azure(a) => {
            sourced("STORAGE_AZURE_CONTAINER_NAME", &target.bucket)?;
            sourced("STORAGE_AZURE_ACCOUNT_NAME", &a.account_name)?;
            let (name, secret) = match &a.credentials {
                AzureCredentials::AccountKey(k) => ("STORAGE_AZURE_ACCOUNT_KEY", k),
                AzureCredentials::Sas(t) => ("SAS token", t),
            };
            check(name, secret.value.expose(), &secret.source)?;
        }
        ProviderSettings::Gcs(g) => {
            sourced("STORAGE_GCS_BUCKET_NAME", &target.bucket)?;
            if let Some(p) = &g.project_id {
                sourced("STORAGE_GCS_PROJECT_ID", p)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_non_ascii_characters_are_named_without_the_value() {
        let src = Source::EnvFile {
            path: "env.list".into(),
            line: 3,
            key: "STORAGE_AWS_ACCESS_KEY_ID".into(),
        };
        let e = check("STORAGE_AWS_ACCESS_KEY_ID", "S3\0RVER", &src).unwrap_err();
        assert!(
            e.0.starts_with("STORAGE_AWS_ACCESS_KEY_ID (env.list:3"),
            "{}",
            e.0
        );
        assert!(e.0.contains("0x00 at character 3"), "{}", e.0);
        assert!(!e.0.contains("RVER"), "the value is never echoed: {}", e.0);
        let e = check("STORAGE_AWS_REGION_NAME", "us\u{2011}east-1", &src).unwrap_err();
        assert!(e.0.contains("U+2011"), "{}", e.0);
        assert!(check("x", "AKIA0123 ok/+=", &src).is_ok());
        assert!(check("x", "tab\there", &src).is_err());
    }
}
