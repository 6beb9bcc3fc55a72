//! A small YAML writer for Kubernetes manifests built as `serde_json::Value`: block style,
//! keys in the order they were built, and every string that YAML could read as something else
//! (`true`, `0700`, `a: b`, `*`, an empty string) double-quoted with JSON's escapes, which YAML
//! reads back unchanged. Multi-line text (a values file in a ConfigMap) becomes a `|` block.
use serde_json::Value;

/// Renders one document (no leading `---`).
pub fn document(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => mapping(map, 0, &mut out),
        Value::Array(items) if !items.is_empty() => sequence(items, 0, &mut out),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

/// Renders several documents separated by `---`.
pub fn documents(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| format!("---\n{}", document(v)))
        .collect()
}

/// Keys in the order Kubernetes manifests are read: what it is, what it is called, then the
/// rest alphabetically, with the long parts (spec, data, template) last.
fn ordered(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    const FIRST: &[&str] = &[
        "apiVersion",
        "kind",
        "type",
        "metadata",
        "name",
        "namespace",
        "image",
    ];
    const LAST: &[&str] = &["data", "stringData", "spec", "template", "jobTemplate"];
    let rank = |k: &str| match (
        FIRST.iter().position(|f| *f == k),
        LAST.iter().position(|l| *l == k),
    ) {
        (Some(i), _) => (0, i),
        (None, Some(i)) => (2, i),
        (None, None) => (1, 0),
    };
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    entries
}

fn mapping(map: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    for (key, value) in ordered(map) {
        out.push_str(&" ".repeat(indent));
        out.push_str(&string(key, indent));
        out.push(':');
        nested(value, indent, out);
    }
}

fn sequence(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                // The first key on the dash's line, the rest aligned under it.
                let mut first = true;
                for (key, value) in ordered(map) {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        out.push_str(&" ".repeat(indent + 2));
                    }
                    out.push_str(&string(key, indent + 2));
                    out.push(':');
                    nested(value, indent + 2, out);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                sequence(inner, indent + 2, out);
            }
            _ => nested(item, indent, out),
        }
    }
}

/// What follows `key:` or `-`: a nested block on the next lines, or ` scalar` on this one.
fn nested(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            mapping(map, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            sequence(items, indent, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, indent + 2));
            out.push('\n');
        }
    }
}

fn scalar(value: &Value, indent: usize) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, indent),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string as a plain scalar where that is unambiguous, as a `|` block when it is multi-line
/// text, else double-quoted.
fn string(s: &str, indent: usize) -> String {
    if is_plain(s) {
        return s.to_string();
    }
    if let Some(block) = literal_block(s, indent) {
        return block;
    }
    serde_json::to_string(s).expect("a string serializes")
}

fn is_plain(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    let dash_ok = first == '-' && s.len() > 1 && !s.starts_with("- ") && !s.starts_with("---");
    (first.is_ascii_alphabetic() || first == '/' || dash_ok)
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !WORDS.contains(&s.to_ascii_lowercase().as_str())
}

/// `|` (or `|-` without a final newline) when every line is printable and the first does not
/// start with a space (that would need an indentation indicator).
fn literal_block(s: &str, indent: usize) -> Option<String> {
    if !s.contains('\n') || s.starts_with([' ', '\n']) || s.ends_with("\n\n") {
        return None;
    }
    if s.chars()
        .any(|c| (c.is_control() && c != '\n') || c == '\u{feff}')
        || s.lines().any(|l| l.ends_with([' ', '\t']))
    {
        return None;
    }
    let (body, header) = match s.strip_suffix('\n') {
        Some(body) => (body, "|"),
        None => (s, "|-"),
    };
    let pad = " ".repeat(indent);
    let mut out = header.to_string();
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reads YAML back with the same parser lsprobe reads values files with.
    fn read_back(text: &str) -> saphyr::Yaml<'_> {
        use saphyr::LoadableYamlNode;
        saphyr::Yaml::load_from_str(text).unwrap().remove(0)
    }

    #[test]
    fn strings_that_look_like_other_types_are_quoted() {
        let v = json!({"a": "true", "b": "0700", "c": "", "d": "a: b", "e": "*", "f": "plain-name_1.x/y"});
        let text = document(&v);
        assert!(text.contains("a: \"true\"\n"), "{text}");
        assert!(text.contains("b: \"0700\"\n"), "{text}");
        assert!(text.contains("c: \"\"\n"), "{text}");
        assert!(text.contains("f: plain-name_1.x/y\n"), "{text}");
        let back = read_back(&text);
        for (k, want) in [
            ("a", "true"),
            ("b", "0700"),
            ("c", ""),
            ("d", "a: b"),
            ("e", "*"),
        ] {
            assert_eq!(back[k].as_str(), Some(want), "{k} in {text}");
        }
    }

    #[test]
    fn nested_lists_and_maps_read_back_the_same() {
        let v = json!({
            "spec": {"containers": [{"name": "x", "args": ["check", "--values", "/v/ls.yaml"],
                                      "env": [{"name": "A", "value": "1"}]}],
                     "empty": [], "n": 3, "t": true},
        });
        let text = document(&v);
        let back = read_back(&text);
        let c = &back["spec"]["containers"][0];
        assert_eq!(c["name"].as_str(), Some("x"));
        assert_eq!(c["args"][2].as_str(), Some("/v/ls.yaml"));
        assert_eq!(c["env"][0]["value"].as_str(), Some("1"));
        assert_eq!(back["spec"]["n"].as_integer(), Some(3));
        assert_eq!(back["spec"]["t"].as_bool(), Some(true));
    }

    #[test]
    fn multi_line_text_is_a_literal_block_that_reads_back_exactly() {
        for text in [
            "global:\n  persistence:\n    enabled: true\n\n    type: s3\n",
            "a: 1\nb: 2",
            "  leading space\nx\n",
            "tab\there\n",
            "trailing \nx\n",
        ] {
            let v = json!({"data": {"ls-values.yaml": text}});
            let out = document(&v);
            let back = read_back(&out);
            assert_eq!(back["data"]["ls-values.yaml"].as_str(), Some(text), "{out}");
        }
    }
}
