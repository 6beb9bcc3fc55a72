//! `Secret`: a value that is never printed, logged or serialized.
use std::fmt;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// A credential. `Debug` and `Display` print `***`; there is no `Serialize`.
/// Read it with [`Secret::expose`] only where it is handed to a signer or client.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the client that needs it. Never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Reads a value from a Kubernetes secret mounted as a directory (`DIR/<secret>/<key>`).
/// One trailing newline is removed (files written with `echo` have it; `kubectl` does not).
/// `asked_by` names the setting that refers to the secret, for the error message.
pub fn read_mounted(
    dir: Option<&Path>,
    secret: &str,
    key: &str,
    asked_by: &str,
) -> Result<(String, PathBuf), ConfigError> {
    let Some(dir) = dir else {
        return Err(ConfigError(format!(
            "{asked_by} names the Kubernetes secret `{secret}` (key `{key}`); pass \
             --secret-dir DIR where DIR/{secret}/{key} holds the value (as a pod mounts it)"
        )));
    };
    for (what, name) in [("secret", secret), ("key", key)] {
        if !super::limits::is_plain_name(name) {
            return Err(ConfigError(format!(
                "{asked_by} names the {what} `{}`, which is not a Kubernetes name (letters, \
                 digits, `-`, `_`, `.`); it would be read from outside --secret-dir. Use the \
                 secret's own name",
                name.escape_debug()
            )));
        }
    }
    let path = dir.join(secret).join(key);
    match super::limits::read_text(&path, super::limits::MAX_CONFIG_BYTES) {
        Ok(text) => {
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            Ok((text.to_string(), path))
        }
        Err(e) => Err(ConfigError(format!(
            "{asked_by} names the Kubernetes secret `{secret}` key `{key}`, but {} cannot be \
             read ({e}); write the secret's value to that file (or fix --secret-dir)",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn reads_a_mounted_secret_and_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("s3-keys")).unwrap();
        std::fs::write(dir.path().join("s3-keys/accesskey"), "AKIA\n").unwrap();
        let (v, path) = read_mounted(Some(dir.path()), "s3-keys", "accesskey", "x").unwrap();
        assert_eq!(v, "AKIA");
        assert!(path.ends_with("s3-keys/accesskey"));
        let err = read_mounted(Some(dir.path()), "s3-keys", "nope", "values.yaml:9").unwrap_err();
        assert!(err.0.contains("s3-keys/nope"), "{}", err.0);
        assert!(err.0.contains("values.yaml:9"), "{}", err.0);
        let err = read_mounted(None, "s", "k", "values.yaml:9").unwrap_err();
        assert!(err.0.contains("--secret-dir"), "{}", err.0);
        let err = read_mounted(Some(dir.path()), "../../../../dev", "zero", "v:3").unwrap_err();
        assert!(err.0.contains("outside --secret-dir"), "{}", err.0);
    }
}
