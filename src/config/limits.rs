//! Bounds on what lsprobe reads from the user: files are read up to a size (so `/dev/zero`
//! as `--env-file` is an error, not an exhausted memory), YAML nesting is bounded before the
//! parser recurses, and names that become paths stay inside their directory.
use std::io::Read;
use std::path::Path;

/// The most a configuration file (env.list, values, a secret, a credentials JSON, a suite)
/// may hold. Label Studio's are a few kilobytes.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// The most a PEM CA bundle may hold (the Mozilla bundle is ~220 KB).
pub const MAX_PEM_BYTES: u64 = 8 << 20;
/// The deepest YAML nesting accepted (Label Studio's chart values nest about 6 deep).
pub const MAX_YAML_DEPTH: usize = 64;

/// Reads at most `max` bytes of `path`; more is an error that says so.
pub fn read_bytes(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it holds more than {} KiB, far more than a configuration file (a device such \
                 as /dev/zero, or the wrong file?)",
                max / 1024
            ),
        ));
    }
    Ok(bytes)
}

/// [`read_bytes`] as UTF-8 text.
pub fn read_text(path: &Path, max: u64) -> std::io::Result<String> {
    String::from_utf8(read_bytes(path, max)?).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it is not UTF-8 text (byte {} is invalid)",
                e.utf8_error().valid_up_to() + 1
            ),
        )
    })
}

/// How deep `text` nests, counting block indentation levels, `- ` sequence items and flow
/// brackets; a cheap over-estimate that never recurses.
pub fn yaml_depth(text: &str) -> usize {
    let mut deepest = 0;
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    for line in text.lines() {
        let body = line.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        while indents.last().is_some_and(|&i| i >= indent) {
            indents.pop();
        }
        indents.push(indent);
        let dashes = body
            .split_inclusive(' ')
            .take_while(|w| w.trim_end() == "-")
            .count();
        for c in body.chars() {
            match c {
                '[' | '{' => flow += 1,
                ']' | '}' => flow = flow.saturating_sub(1),
                _ => {}
            }
            deepest = deepest.max(indents.len() + dashes + flow);
        }
        deepest = deepest.max(indents.len() + dashes + flow);
    }
    deepest
}

/// Whether `name` may be a path component inside a directory lsprobe was given: a
/// Kubernetes object or key name (letters, digits, `-`, `_`, `.`; not `.` or `..`).
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_zero_is_refused_after_the_limit() {
        let e = read_text(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(e.to_string().contains("/dev/zero"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "A=1\n").unwrap();
        assert_eq!(read_text(&p, 4).unwrap(), "A=1\n");
        assert!(read_text(&p, 3).is_err());
        std::fs::write(&p, [0x41, 0xff]).unwrap();
        assert!(
            read_text(&p, 10)
                .unwrap_err()
                .to_string()
                .contains("byte 2")
        );
    }

    #[test]
    fn yaml_depth_counts_blocks_sequences_and_flows() {
        assert_eq!(yaml_depth("a: 1\nb: 2\n"), 1);
        assert_eq!(yaml_depth("global:\n  persistence:\n    type: s3\n"), 3);
        assert_eq!(yaml_depth("a:\n  - - - x\n"), 5);
        assert!(yaml_depth(&"[".repeat(10_000)) >= 10_000);
        assert!(yaml_depth(&"{a: ".repeat(100)) >= 100);
    }

    #[test]
    fn names_cannot_climb_out() {
        assert!(is_plain_name("s3-keys"));
        assert!(is_plain_name("accesskey"));
        for bad in ["../../../../dev", "..", ".", "a/b", "", "a\0b"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }
}
