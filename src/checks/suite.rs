//! Suites as data: a suite file names the checks to run and their parameters
//! (format: docs/suites.md). The built-in suites (suites/*.toml) are embedded in the binary.
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::Provider;
use crate::error::RunError;

/// Every check id of the contract (design.md): what a suite may name.
pub const KNOWN_CHECK_IDS: &[&str] = &[
    "permissions.list",
    "permissions.put",
    "permissions.get",
    "permissions.head",
    "permissions.delete",
    "folder.write_scope",
    "folder.list_scope",
    "folder.isolation",
    "cors.preflight.GET",
    "cors.preflight.PUT",
    "cors.preflight.POST",
    "cors.preflight.DELETE",
    "cors.preflight.HEAD",
    "cors.actual_get",
    "cors.expose_headers",
    "presign.get",
    "presign.put",
    "s3.encryption",
    "azure.account_kind",
    "upload.checksum_roundtrip",
    "upload.multipart",
    "upload.abort",
    "label_studio.upload",
    "label_studio.serve",
    "load.verdict",
];

/// The built-in suites: name and TOML text.
const BUILT_IN: &[(&str, &str)] = &[
    ("smoke", include_str!("../../suites/smoke.toml")),
    ("full", include_str!("../../suites/full.toml")),
];

/// The largest object a check may write: S3's limit for one PUT (5 GiB).
pub const MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// A suite: which checks run, in order, with which parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Suite {
    /// `name` from the file.
    pub name: String,
    /// `description` from the file.
    pub description: String,
    /// Where it came from: a path, or `suites/<name>.toml (built in)`.
    pub origin: String,
    /// The checks, in file order; ids are unique.
    pub checks: Vec<SuiteCheck>,
}

/// One `[[check]]` of a suite.
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteCheck {
    /// A contract id from [`KNOWN_CHECK_IDS`].
    pub id: String,
    /// Its parameters, defaults filled in.
    pub params: CheckParams,
}

/// The parameters a `[[check]]` may set; each has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckParams {
    /// Size in bytes of each object the check writes (default 1024).
    pub object_size: u64,
    /// Most keys one listing may return (default 1000); bounds `folder.isolation`.
    pub list_limit: usize,
    /// Headers a CORS preflight asks for beyond those of the request shape it models, per
    /// provider (src/checks/cors_shape.rs).
    pub request_headers: RequestHeaders,
}

impl Default for CheckParams {
    fn default() -> Self {
        CheckParams {
            object_size: 1024,
            list_limit: 1000,
            request_headers: RequestHeaders::default(),
        }
    }
}

/// `Access-Control-Request-Headers` of CORS preflights, per provider.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestHeaders {
    /// Amazon S3 (default none).
    pub s3: Vec<String>,
    /// Google Cloud Storage (default none).
    pub gcs: Vec<String>,
    /// Azure Blob Storage (default none; a PUT always adds `x-ms-blob-type`).
    pub azure: Vec<String>,
}

impl RequestHeaders {
    /// The headers for one provider.
    pub fn for_provider(&self, provider: Provider) -> &[String] {
        match provider {
            Provider::S3 => &self.s3,
            Provider::Gcs => &self.gcs,
            Provider::Azure => &self.azure,
        }
    }
}

/// A suite that cannot be used. Every message names the file and line, and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// A bare name that is not a suite.
    #[error(
        "no suite named `{name}`; --suite takes one of: {known}, or a path to a suite file (ending .toml)"
    )]
    UnknownSuite {
        /// The name asked for.
        name: String,
        /// The suites there are, comma-separated.
        known: String,
    },
    /// The file cannot be read.
    #[error(
        "cannot read suite file {}: {source}; --suite takes a built-in name (smoke, full) or a path to a .toml file",
        path.display()
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, or not the suite format (unknown field, wrong type, missing `name`).
    #[error("{origin}:{line}: {message}; the suite format is described in docs/suites.md")]
    Syntax {
        /// The file.
        origin: String,
        /// 1-based line.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// A `[[check]]` id that is not in the contract.
    #[error("unknown check id `{id}` at {origin}:{line}; known ids: {}{}", KNOWN_CHECK_IDS.join(", "), suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownCheck {
        /// The file.
        origin: String,
        /// 1-based line.
        line: usize,
        /// The id as written.
        id: String,
        /// The closest known id, when one is close.
        suggestion: Option<String>,
    },
    /// The same check twice.
    #[error("check `{id}` appears twice in {origin}, at lines {first_line} and {line}; remove one")]
    DuplicateCheck {
        /// The file.
        origin: String,
        /// 1-based line of the second one.
        line: usize,
        /// 1-based line of the first one.
        first_line: usize,
        /// The id.
        id: String,
    },
    /// A parameter out of range.
    #[error("{origin}:{line}: {message}")]
    BadParameter {
        /// The file.
        origin: String,
        /// 1-based line.
        line: usize,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// No `[[check]]` at all.
    #[error("{origin} names no check; add at least one [[check]] with an id (see docs/suites.md)")]
    Empty {
        /// The file.
        origin: String,
    },
}

impl From<SuiteError> for RunError {
    /// A bad suite is bad input: exit 2, before any request.
    fn from(e: SuiteError) -> Self {
        RunError::BadInput(e.to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    check: Vec<RawCheck>,
}

/// A `[[check]]` as written, with spans for the messages. Its parameter fields are those of
/// [`CheckParams`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    id: Spanned<String>,
    object_size: Option<Spanned<u64>>,
    list_limit: Option<Spanned<usize>>,
    request_headers: Option<Spanned<RequestHeaders>>,
}

/// 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The known id closest to `id`, if it is close enough to be a typo.
fn closest_id(id: &str) -> Option<String> {
    if let Some(same) = KNOWN_CHECK_IDS.iter().find(|k| k.eq_ignore_ascii_case(id)) {
        return Some(same.to_string());
    }
    KNOWN_CHECK_IDS
        .iter()
        .map(|k| (distance(id, k), k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k.to_string())
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Suite {
    /// The names of the built-in suites.
    pub fn built_in_names() -> Vec<&'static str> {
        BUILT_IN.iter().map(|(name, _)| *name).collect()
    }

    /// Loads `--suite`: anything with a `/` or ending `.toml` is a path; a bare name is
    /// `<suites_dir>/<name>.toml` when that file exists, else a built-in suite.
    pub fn load(name_or_path: &str, suites_dir: Option<&Path>) -> Result<Suite, SuiteError> {
        let is_path = name_or_path.contains('/')
            || name_or_path.contains(std::path::MAIN_SEPARATOR)
            || name_or_path.ends_with(".toml");
        if is_path {
            return Suite::load_file(Path::new(name_or_path));
        }
        if let Some(dir) = suites_dir {
            let path = dir.join(format!("{name_or_path}.toml"));
            if path.is_file() {
                return Suite::load_file(&path);
            }
        }
        match BUILT_IN.iter().find(|(name, _)| *name == name_or_path) {
            Some((name, text)) => Suite::parse(text, &format!("suites/{name}.toml (built in)")),
            None => Err(SuiteError::UnknownSuite {
                name: name_or_path.to_string(),
                known: Suite::built_in_names().join(", "),
            }),
        }
    }

    /// Reads and parses a suite file.
    pub fn load_file(path: &Path) -> Result<Suite, SuiteError> {
        let text = crate::config::limits::read_text(path, crate::config::limits::MAX_CONFIG_BYTES)
            .map_err(|source| SuiteError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        Suite::parse(&text, &path.display().to_string())
    }

    /// Parses suite text; `origin` names it in messages (a path).
    pub fn parse(text: &str, origin: &str) -> Result<Suite, SuiteError> {
        let at = |span: Range<usize>| line_at(text, span.start);
        let raw: RawSuite = toml::from_str(text).map_err(|e| SuiteError::Syntax {
            origin: origin.to_string(),
            line: e.span().map_or(1, at),
            message: e.message().trim_end().to_string(),
        })?;
        if raw.check.is_empty() {
            return Err(SuiteError::Empty {
                origin: origin.to_string(),
            });
        }
        let bad = |span: Range<usize>, message: String| SuiteError::BadParameter {
            origin: origin.to_string(),
            line: at(span),
            message,
        };
        let mut checks: Vec<(SuiteCheck, usize)> = Vec::new();
        for check in raw.check {
            let line = at(check.id.span());
            let id = check.id.into_inner();
            if !KNOWN_CHECK_IDS.contains(&id.as_str()) {
                return Err(SuiteError::UnknownCheck {
                    origin: origin.to_string(),
                    line,
                    suggestion: closest_id(&id),
                    id,
                });
            }
            if let Some((_, first_line)) = checks.iter().find(|(c, _)| c.id == id) {
                return Err(SuiteError::DuplicateCheck {
                    origin: origin.to_string(),
                    line,
                    first_line: *first_line,
                    id,
                });
            }
            let mut params = CheckParams::default();
            if let Some(size) = check.object_size {
                if !(1..=MAX_OBJECT_SIZE).contains(size.get_ref()) {
                    let message = format!(
                        "object_size = {} is out of range; use 1 to {MAX_OBJECT_SIZE} bytes",
                        size.get_ref()
                    );
                    return Err(bad(size.span(), message));
                }
                params.object_size = size.into_inner();
            }
            if let Some(limit) = check.list_limit {
                if *limit.get_ref() == 0 {
                    let message = "list_limit = 0 would list nothing; use 1 or more".to_string();
                    return Err(bad(limit.span(), message));
                }
                params.list_limit = limit.into_inner();
            }
            if let Some(headers) = check.request_headers {
                let span = headers.span();
                let headers = headers.into_inner();
                let all = headers.s3.iter().chain(&headers.gcs).chain(&headers.azure);
                if let Some(wrong) = all.into_iter().find(|h| !is_header_name(h)) {
                    let message = format!(
                        "request_headers: `{wrong}` is not an HTTP header name; write names only, e.g. \"content-type\""
                    );
                    return Err(bad(span, message));
                }
                params.request_headers = headers;
            }
            checks.push((SuiteCheck { id, params }, line));
        }
        Ok(Suite {
            name: raw.name,
            description: raw.description,
            origin: origin.to_string(),
            checks: checks.into_iter().map(|(c, _)| c).collect(),
        })
    }

    /// The ids, in order.
    pub fn ids(&self) -> Vec<&str> {
        self.checks.iter().map(|c| c.id.as_str()).collect()
    }
}

#[cfg(test)]
mod tests;
