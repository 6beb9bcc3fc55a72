//! Parsing one resolved value: URLs, origins, JSON (Label Studio's own rules for folders,
//! numbers and booleans are in [`super::as_label_studio`]).
//! Every error names the value's source and the fix.
use super::ConfigError;
use super::target::{Source, Sourced};

/// An http(s) URL with a host.
pub fn url(v: &Sourced<String>, name: &str) -> Result<url::Url, ConfigError> {
    let bad = |why: &str| {
        ConfigError(format!(
            "{name} = `{}` ({}) is not a usable URL: {why}; write it as \
             https://host[:port] (http:// only for local emulators)",
            crate::report::redact::text(&shorten(&v.value)),
            v.source
        ))
    };
    let parsed = url::Url::parse(v.value.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(&format!("the scheme is `{}`", parsed.scheme())));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    Ok(parsed)
}

/// A browser origin (`scheme://host[:port]`) from a URL; a path is dropped with a note.
pub fn origin(v: &Sourced<String>, name: &str) -> Result<(String, Option<String>), ConfigError> {
    let parsed = url(v, name)?;
    let origin = parsed.origin().ascii_serialization();
    let note = (parsed.path() != "/" && !parsed.path().is_empty()).then(|| {
        format!(
            "{name} = `{}` ({}): the browser's Origin is `{origin}`; the path is not part of it",
            crate::report::redact::url(&parsed),
            v.source
        )
    });
    Ok((origin, note))
}

/// A JSON object (e.g. `STORAGE_AWS_OBJECT_PARAMETERS`).
pub fn json_object(
    v: &Sourced<String>,
    name: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, ConfigError> {
    match serde_json::from_str::<serde_json::Value>(&v.value) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(ConfigError(format!(
            "{name} ({}) must be a JSON object, e.g. {{\"ServerSideEncryption\": \"AES256\"}}",
            v.source
        ))),
        Err(e) => Err(ConfigError(format!(
            "{name} ({}) is not valid JSON ({e}); write a JSON object, e.g. \
             {{\"ServerSideEncryption\": \"AES256\"}}",
            v.source
        ))),
    }
}

/// A value for an error message: at most 60 characters (the rest is counted, not echoed), so
/// an 8 MB value is not printed whole.
pub fn shorten(value: &str) -> String {
    const MAX: usize = 60;
    let n = value.chars().count();
    if n <= MAX {
        value.to_string()
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("{head}... ({n} characters)")
    }
}

/// A value that came from nowhere but Label Studio's default.
pub fn default<T>(value: T) -> Sourced<T> {
    Sourced::new(value, Source::Default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(v: &str) -> Sourced<String> {
        Sourced::new(v.to_string(), Source::Flag { flag: "--x".into() })
    }

    #[test]
    fn urls_and_origins() {
        assert!(url(&flag("ftp://x"), "E").unwrap_err().0.contains("scheme"));
        assert!(url(&flag("not a url"), "E").is_err());
        let (o, note) = origin(&flag("https://ls.example.com/"), "O").unwrap();
        assert_eq!(o, "https://ls.example.com");
        assert!(note.is_none());
        let (o, note) = origin(&flag("http://localhost:8080/ls"), "O").unwrap();
        assert_eq!(o, "http://localhost:8080");
        assert!(note.is_some());
    }

    #[test]
    fn json_objects() {
        assert!(json_object(&flag(r#"{"ServerSideEncryption":"AES256"}"#), "P").is_ok());
        assert!(
            json_object(&flag("[1]"), "P")
                .unwrap_err()
                .0
                .contains("object")
        );
        assert!(
            json_object(&flag("{"), "P")
                .unwrap_err()
                .0
                .contains("not valid JSON")
        );
    }
}
