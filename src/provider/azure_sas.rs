//! Azure service SAS tokens signed with the account key: the read-only blob SAS Label Studio
//! hands to browsers (`sp=r&sr=b`), and container tokens to test a limited grant.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::keys;

/// The service version the tokens are signed for.
pub const SAS_VERSION: &str = "2022-11-02";

/// What a SAS grants access to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SasResource<'a> {
    /// The whole container (`sr=c`).
    Container,
    /// One blob (`sr=b`).
    Blob(&'a str),
}

/// Signs a service SAS. `permissions` are Azure's letters in order (`racwdl`: read, add,
/// create, write, delete, list). Returns the query string (without `?`).
pub fn service_sas(
    account: &str,
    key_base64: &str,
    container: &str,
    resource: SasResource<'_>,
    permissions: &str,
    expiry: DateTime<Utc>,
) -> Result<String, String> {
    let key = STANDARD
        .decode(key_base64.trim())
        .map_err(|e| format!("the account key is not base64: {e}"))?;
    let se = expiry.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (sr, resource_path) = match resource {
        SasResource::Container => ("c", format!("/blob/{account}/{container}")),
        SasResource::Blob(name) => ("b", format!("/blob/{account}/{container}/{name}")),
    };
    let string_to_sign = [
        permissions,
        "",
        &se,
        &resource_path,
        "",
        "",
        "",
        SAS_VERSION,
        sr,
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    .join("\n");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(string_to_sign.as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    Ok(format!(
        "sv={SAS_VERSION}&sr={sr}&sp={permissions}&se={}&sig={}",
        keys::component(&se),
        keys::component(&sig)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_has_the_fields_and_a_stable_signature() {
        let expiry = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = service_sas("acct", "a2V5", "c", SasResource::Container, "rl", expiry).unwrap();
        let b = service_sas("acct", "a2V5", "c", SasResource::Container, "rl", expiry).unwrap();
        assert_eq!(a, b);
        assert!(a.starts_with("sv=2022-11-02&sr=c&sp=rl&se=2030-01-01T00%3A00%3A00Z&sig="));
        let blob =
            service_sas("acct", "a2V5", "c", SasResource::Blob("m/a b"), "r", expiry).unwrap();
        assert!(blob.contains("sr=b&sp=r"));
        assert_ne!(
            a,
            service_sas("acct", "a2V6", "c", SasResource::Container, "rl", expiry).unwrap()
        );
        assert!(
            service_sas(
                "acct",
                "not base64!",
                "c",
                SasResource::Container,
                "r",
                expiry
            )
            .is_err()
        );
    }
}
