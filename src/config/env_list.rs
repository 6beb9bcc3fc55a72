//! Docker env-files (`docker run --env-file env.list`, Compose `env_file`): `KEY=VALUE` lines,
//! `#` comments, blank lines, optional double or single quotes around the value, CRLF tolerated.
//! A bare `KEY` line takes the value from the environment of the process, as Docker does.
use std::path::Path;

use super::ConfigError;
use super::target::Source;
use super::vars::Layer;

/// One `KEY=VALUE` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvLine {
    /// The variable name.
    pub key: String,
    /// The value, quotes removed.
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// Reads an env-file into Label Studio's variables, each remembering its line.
pub fn layer(
    text: &str,
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Layer, ConfigError> {
    let mut layer = Layer::default();
    for line in parse(text, path, lookup)? {
        let source = Source::EnvFile {
            path: path.to_path_buf(),
            line: line.line,
            key: line.key.clone(),
        };
        layer.add_variable(&line.key, line.value, source);
    }
    Ok(layer)
}

/// Parses an env-file's text. `lookup` answers bare `KEY` lines (Docker passes the variable
/// through from its own environment; absent means the line is ignored).
pub fn parse(
    text: &str,
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<EnvLine>, ConfigError> {
    let mut lines = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (key, value) = match trimmed.split_once('=') {
            Some((key, value)) => (key.trim_end(), Some(value)),
            None => (trimmed.trim_end(), None),
        };
        if !is_variable_name(key) {
            // The text is not echoed: a line that is not KEY=VALUE is often a secret wrapped
            // onto the next line.
            return Err(ConfigError(format!(
                "{}:{line}: this line is not KEY=VALUE (its start, {} characters, is not a \
                 variable name: letters, digits and `_`); if it continues the value of the \
                 line above, join the two lines; comments start with #",
                path.display(),
                key.chars().count()
            )));
        }
        let value = match value {
            Some(v) => unquote(v, path, line)?,
            None => match lookup(key) {
                Some(v) => v,
                None => continue,
            },
        };
        lines.push(EnvLine {
            key: key.to_string(),
            value,
            line,
        });
    }
    Ok(lines)
}

fn is_variable_name(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

fn unquote(value: &str, path: &Path, line: usize) -> Result<String, ConfigError> {
    let value = value.trim_end();
    for quote in ['"', '\''] {
        if let Some(rest) = value.strip_prefix(quote) {
            return match rest.strip_suffix(quote) {
                Some(inner) => Ok(inner.to_string()),
                None => Err(ConfigError(format!(
                    "{}:{line}: the value opens a {quote} quote but does not close it; \
                     end the line with {quote} or remove the opening one",
                    path.display()
                ))),
            };
        }
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Vec<(String, String, usize)> {
        parse(text, Path::new("env.list"), &|_| None)
            .unwrap()
            .into_iter()
            .map(|l| (l.key, l.value, l.line))
            .collect()
    }

    #[test]
    fn reads_the_guide_example() {
        let text =
            "STORAGE_TYPE=s3\nSTORAGE_AWS_BUCKET_NAME=\"my-bucket\"\nSTORAGE_AWS_FOLDER=\"\"\n";
        assert_eq!(
            parse_ok(text),
            vec![
                ("STORAGE_TYPE".into(), "s3".into(), 1),
                ("STORAGE_AWS_BUCKET_NAME".into(), "my-bucket".into(), 2),
                ("STORAGE_AWS_FOLDER".into(), "".into(), 3),
            ]
        );
    }

    #[test]
    fn skips_comments_and_blank_lines_and_tolerates_crlf() {
        let text = "# comment\r\n\r\n  \r\nA=1\r\n   # indented comment\r\nB='two words'\r\n";
        assert_eq!(
            parse_ok(text),
            vec![
                ("A".into(), "1".into(), 4),
                ("B".into(), "two words".into(), 6)
            ]
        );
    }

    #[test]
    fn value_may_contain_equals_and_hash() {
        assert_eq!(parse_ok("K=a=b#c")[0], ("K".into(), "a=b#c".into(), 1));
    }

    #[test]
    fn bare_key_is_taken_from_the_environment() {
        let got = parse("A\nB\n", Path::new("e"), &|k| {
            (k == "A").then(|| "from-env".to_string())
        })
        .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].value, "from-env");
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let err = parse("A=1\nnot valid=2\n", Path::new("x/env.list"), &|_| None).unwrap_err();
        assert!(err.0.starts_with("x/env.list:2:"), "{}", err.0);
        // A secret wrapped onto its own line is never echoed.
        let text = "STORAGE_AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG\n+bPxRfiCYEXAMPLEKEY\n";
        let err = parse(text, Path::new("env.list"), &|_| None).unwrap_err();
        assert!(err.0.starts_with("env.list:2:"), "{}", err.0);
        assert!(!err.0.contains("bPxRfiCY"), "{}", err.0);
        let err = parse("A=\"open\n", Path::new("env.list"), &|_| None).unwrap_err();
        assert!(err.0.starts_with("env.list:1:"), "{}", err.0);
        assert!(err.0.contains("quote"));
    }
}
