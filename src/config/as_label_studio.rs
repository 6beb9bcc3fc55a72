//! Label Studio 1.23.2's own rules for the `STORAGE_*` values, read from its code and the
//! backends it hands them to (core/settings/base.py, core/utils/params.py, django-storages
//! 1.12.3, botocore 1.44): a value Label Studio refuses is refused here with the same reason,
//! a value it normalises is normalised the same way, anything else is used as written.
//! docs/configuration.md has the table; tests/label_studio_matrix.rs proves rows of it against
//! a running Label Studio.
use super::ConfigError;
use super::parse::shorten;
use super::target::{Provider, Sourced};

/// Where a key under the folder ends: what django-storages joins the folder with.
const PROBE: &str = "upload/1/x";

/// `STORAGE_AWS_FOLDER`, `STORAGE_GCS_FOLDER`, `STORAGE_AZURE_FOLDER` as django-storages uses
/// it: the folder prefix of every key (`""` or `a/b`, no slash at either end).
///
/// - S3 and GCS refuse a folder that begins with `/` (`check_location`: "location cannot begin
///   with a leading slash") the first time the storage is used, so every upload answers 500.
/// - All three join the folder and the file name with `safe_join`, which refuses (500,
///   `SuspiciousOperation`) a folder that `posixpath.normpath` would change: `a//b`, `./a`,
///   `a/../b`. Trailing slashes are dropped.
/// - Azure drops leading slashes, and `_get_valid_path` strips `.` and `/` from the start of
///   the key.
/// - Spaces, case and `%xx` are kept as written (they are part of the key).
pub fn folder(v: &Sourced<String>, name: &str, provider: Provider) -> Result<String, ConfigError> {
    let raw = v.value.as_str();
    let refused = |why: &str, fix: String| {
        ConfigError(format!(
            "{name} = `{}` ({}): {why}, so every upload answers HTTP 500 (Label Studio 1.23.2 \
             starts, and fails on the first file). {fix}",
            shorten(raw),
            v.source
        ))
    };
    if provider != Provider::Azure && raw.starts_with('/') {
        let backend = match provider {
            Provider::Gcs => "AlternativeGoogleCloudStorage",
            _ => "CustomS3Boto3Storage",
        };
        return Err(refused(
            &format!(
                "Label Studio's storage refuses a folder that begins with a slash \
                 (\"{backend}.location cannot begin with a leading slash\")"
            ),
            format!("Write `{}`.", suggest(raw)),
        ));
    }
    let base = raw.trim_end_matches('/');
    let joined = normpath(&format!("{base}/{PROBE}"));
    let inside = joined
        .strip_prefix(base)
        .is_some_and(|rest| rest.starts_with('/'));
    if !inside {
        return Err(refused(
            "django-storages refuses to join a file name to a folder that is not already in \
             normal form (empty, `.` or `..` parts: \"Attempted access to '...' denied\")",
            format!("Write `{}`.", suggest(raw)),
        ));
    }
    let key = joined.trim_start_matches('/');
    let folder = key
        .strip_suffix(PROBE)
        .unwrap_or_default()
        .trim_end_matches('/');
    Ok(match provider {
        Provider::Azure => folder.trim_start_matches(['.', '/']).to_string(),
        _ => folder.to_string(),
    })
}

/// What a person most likely meant: the non-empty, non-`.` parts.
fn suggest(raw: &str) -> String {
    raw.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Python's `posixpath.normpath`.
fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let initial = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else {
        usize::from(path.starts_with('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp != ".." || (initial == 0 && parts.is_empty()) || parts.last() == Some(&"..") {
            parts.push(comp);
        } else if !parts.is_empty() {
            parts.pop();
        }
    }
    let out = format!("{}{}", "/".repeat(initial), parts.join("/"));
    if out.is_empty() { ".".into() } else { out }
}

/// A whole number as Python's `int()` reads a string: surrounding whitespace, a sign, and `_`
/// between digits are allowed.
pub fn python_int(s: &str) -> Option<i64> {
    let t = s.trim_matches(|c: char| c.is_whitespace());
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let bytes = digits.as_bytes();
    let well_formed = !digits.is_empty()
        && bytes.first().is_some_and(u8::is_ascii_digit)
        && bytes.last().is_some_and(u8::is_ascii_digit)
        && bytes.iter().all(|b| b.is_ascii_digit() || *b == b'_')
        && !digits.contains("__");
    if !well_formed {
        return None;
    }
    let n: i64 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -n } else { n })
}

/// The presigned-URL lifetime (`STORAGE_AWS_X_AMZ_EXPIRES`, `STORAGE_GCS_EXPIRATION_SECS`,
/// `STORAGE_AZURE_URL_EXPIRATION_SECS`): Label Studio reads it with `int()` when it starts, so
/// anything else (an empty value too) stops it from starting. Zero or less starts, and every
/// media URL is then dead on arrival (already expired; Azure makes no SAS at all for 0), so it
/// is refused here too.
pub fn expiry(v: &Sourced<String>, name: &str) -> Result<u64, ConfigError> {
    match python_int(&v.value) {
        Some(n) if n > 0 => Ok(n.unsigned_abs()),
        Some(n) => Err(ConfigError(format!(
            "{name} = `{}` ({}): Label Studio starts, but every presigned media URL it makes \
             with a lifetime of {n} s is already expired (Azure: {}), so the browser shows no \
             media; use a positive number of seconds, e.g. 86400 for a day",
            shorten(&v.value),
            v.source,
            if n == 0 {
                "0 makes no SAS at all, and the private container refuses the bare URL"
            } else {
                "the SAS expired before it was made"
            }
        ))),
        None => Err(ConfigError(format!(
            "{name} = `{}` ({}) is not a whole number: Label Studio 1.23.2 does not start \
             (ValueError: invalid literal for int()); write seconds, e.g. 86400 for a day, or \
             remove the line for that default",
            shorten(&v.value),
            v.source
        ))),
    }
}

/// A boolean as Label Studio's `get_bool_env` reads it (`cast_bool_from_str`): `true yes on 1`
/// or `false no not off 0`, any case, nothing else: no spaces, not `y`, not empty. Anything else
/// stops Label Studio from starting.
pub fn boolean(v: &Sourced<String>, name: &str) -> Result<bool, ConfigError> {
    match v.value.to_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "not" | "off" | "0" => Ok(false),
        _ => Err(ConfigError(format!(
            "{name} = `{}` ({}) is not a boolean Label Studio reads: it does not start \
             (\"Incorrect bool value\"); write true or false, without spaces",
            shorten(&v.value),
            v.source
        ))),
    }
}

/// `STORAGE_TYPE`: Label Studio compares it with `==`, so only `s3`, `gcs` and `azure` select
/// a bucket. Any other spelling (`S3`, ` s3`, empty) is no storage at all: uploads stay on
/// Label Studio's own disk.
pub fn storage_type(v: &Sourced<String>) -> Result<Provider, ConfigError> {
    match v.value.as_str() {
        "s3" => Ok(Provider::S3),
        "gcs" => Ok(Provider::Gcs),
        "azure" => Ok(Provider::Azure),
        other => {
            let meant = match other.trim().to_ascii_lowercase().as_str() {
                "s3" => Some("s3"),
                "gcs" => Some("gcs"),
                "azure" => Some("azure"),
                _ => None,
            };
            let fix = match meant {
                Some(m) => format!("write `{m}` exactly"),
                None => "use s3, gcs or azure".into(),
            };
            Err(ConfigError(format!(
                "STORAGE_TYPE = `{}` ({}): Label Studio compares the value exactly, so it \
                 uses no bucket at all and keeps uploads on its local disk (lost when the \
                 container is replaced); {fix}",
                shorten(other),
                v.source
            )))
        }
    }
}

/// `STORAGE_AWS_REGION_NAME`: botocore refuses a region that does not match
/// `^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$` (InvalidRegionError) when Label Studio
/// first makes its S3 client, so every upload answers 500. An empty value is no region.
pub fn region(v: &Sourced<String>) -> Result<Option<String>, ConfigError> {
    if v.value.is_empty() {
        return Ok(None);
    }
    let b = v.value.as_bytes();
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    let valid = b.len() <= 63
        && b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
    if valid {
        return Ok(Some(v.value.clone()));
    }
    let r = shorten(&v.value);
    let hint = if r.contains("://") || r.contains('.') {
        "; an endpoint goes in STORAGE_AWS_ENDPOINT_URL, the region name (e.g. eu-west-1) here"
    } else {
        ""
    };
    Err(ConfigError(format!(
        "STORAGE_AWS_REGION_NAME = `{r}` ({}) is not a region name botocore accepts (InvalidRegionError: \
         \"Provided region_name '{r}' doesn't match a supported format\"), so every upload of \
         Label Studio answers HTTP 500; write it like us-east-1, without spaces{hint}",
        v.source
    )))
}

/// `STORAGE_AWS_BUCKET_NAME`: botocore refuses a name that does not match
/// `^[a-zA-Z0-9.\-_]{1,255}$` (and is no access-point ARN) before sending anything, so every
/// upload answers 500.
pub fn s3_bucket(v: &Sourced<String>) -> Result<(), ConfigError> {
    let name = v.value.as_str();
    let valid = name.starts_with("arn:")
        || (!name.is_empty()
            && name.len() <= 255
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_')));
    if valid {
        return Ok(());
    }
    Err(ConfigError(format!(
        "STORAGE_AWS_BUCKET_NAME = `{}` ({}) is not a bucket name botocore accepts (letters, \
         digits, `.`, `-`, `_`), so every upload of Label Studio answers HTTP 500 (\"Invalid \
         bucket name\"); write the bare name, without spaces, slashes or s3://",
        shorten(name),
        v.source
    )))
}

/// `STORAGE_AWS_ENDPOINT_URL`: botocore takes it as written, empty too. Surrounding spaces make every
/// request fail ("Custom endpoint `...` was not a valid URI"), and so does a missing scheme
/// ("Invalid endpoint"): every upload answers 500.
pub fn s3_endpoint(v: &Sourced<String>) -> Result<(), ConfigError> {
    let e = v.value.as_str();
    let why = if e.is_empty() {
        "is empty, which botocore takes as an endpoint (\"Invalid endpoint: \")"
    } else if e.trim() != e {
        "has spaces around it, which botocore keeps (\"Custom endpoint `...` was not a valid URI\")"
    } else if !e.contains("://") {
        "has no scheme (botocore: \"Invalid endpoint\")"
    } else {
        return Ok(());
    };
    Err(ConfigError(format!(
        "STORAGE_AWS_ENDPOINT_URL = `{}` ({}) {why}, so every upload of Label Studio answers \
         HTTP 500; write it as https://host[:port] (http:// only for local servers), nothing \
         around it, or remove the line for AWS itself",
        shorten(e),
        v.source
    )))
}

/// Signature versions botocore 1.44 knows (`botocore.auth.AUTH_TYPE_MAPS`).
const SIGNATURE_VERSIONS: &[&str] = &[
    "s3v4",
    "v4",
    "s3",
    "v2",
    "v3",
    "v3https",
    "s3-query",
    "v4-query",
    "s3v4-query",
    "s3-presign-post",
    "s3v4-presign-post",
    "v4-s3express",
    "v4-s3express-query",
    "v4-s3express-presign-post",
    "bearer",
];

/// `STORAGE_AWS_S3_SIGNATURE_VERSION`: botocore looks it up exactly; a name it does not know
/// (`S3V4`, empty) fails every request (UnknownSignatureVersionError), so every upload answers
/// 500. Known names other than `s3v4`, `v4` and `s3` are kept with a warning.
pub fn signature_version(
    v: Sourced<String>,
    warnings: &mut Vec<String>,
) -> Result<Sourced<String>, ConfigError> {
    if !SIGNATURE_VERSIONS.contains(&v.value.as_str()) {
        return Err(ConfigError(format!(
            "STORAGE_AWS_S3_SIGNATURE_VERSION = `{}` ({}) is not a signature version botocore \
             knows (\"Unknown Signature Version\"), so every upload of Label Studio answers \
             HTTP 500; write s3v4 (lower case), or remove the line",
            shorten(&v.value),
            v.source
        )));
    }
    if !matches!(v.value.as_str(), "s3v4" | "v4" | "s3") {
        warnings.push(format!(
            "STORAGE_AWS_S3_SIGNATURE_VERSION = `{}` ({}) is not one meant for S3 uploads and \
             presigned URLs; use s3v4",
            shorten(&v.value),
            v.source
        ));
    }
    Ok(v)
}

/// The regions whose S3 endpoints botocore 1.44.8 lists with SigV2 (`s3`) among their
/// signature versions (its endpoints.json, read with its endpoint resolver). For these, and the
/// `aws-global` pseudo-region, botocore presigns with SigV2 when no signature version is set
/// (`ClientCreator._set_s3_presign_signature_version`); any other region name, including one it
/// does not know (`minio`, a new region, `US-EAST-1`), gets SigV4.
const SIGV2_REGIONS: &[&str] = &[
    "ap-northeast-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "aws-global",
    "eu-west-1",
    "sa-east-1",
    "us-east-1",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// Whether Label Studio's presigned S3 URLs are SigV4, given `STORAGE_AWS_S3_SIGNATURE_VERSION`
/// and the configured region (`None`: botocore's `us-east-1`). The endpoint plays no part:
/// botocore decides by region name alone, with or without `STORAGE_AWS_ENDPOINT_URL`
/// (checked with boto3 1.44.8's `generate_presigned_url`).
pub fn presigns_with_sigv4(signature_version: Option<&str>, region: Option<&str>) -> bool {
    match signature_version {
        Some(v) => matches!(v, "s3v4" | "v4"),
        None => !SIGV2_REGIONS.contains(&region.unwrap_or("us-east-1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    fn env(v: &str) -> Sourced<String> {
        Sourced::new(v.to_string(), Source::Environment { var: "X".into() })
    }

    fn f(v: &str, p: Provider) -> Result<String, String> {
        folder(&env(v), "STORAGE_AWS_FOLDER", p).map_err(|e| e.0)
    }

    #[test]
    fn normpath_is_pythons() {
        for (i, o) in [
            ("", "."),
            ("/", "/"),
            ("//", "//"),
            ("///a", "/a"),
            ("//a/b", "//a/b"),
            ("a//b/./c/", "a/b/c"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("a/..", "."),
        ] {
            assert_eq!(normpath(i), o, "{i}");
        }
    }

    #[test]
    fn s3_and_gcs_folders_as_django_storages_uses_them() {
        for p in [Provider::S3, Provider::Gcs] {
            assert_eq!(f("", p).unwrap(), "");
            assert_eq!(f("media", p).unwrap(), "media");
            assert_eq!(f("media/", p).unwrap(), "media");
            assert_eq!(f("media///", p).unwrap(), "media");
            assert_eq!(f("a/b", p).unwrap(), "a/b");
            assert_eq!(f(" media", p).unwrap(), " media");
            assert_eq!(f("media files/ü", p).unwrap(), "media files/ü");
            assert_eq!(f("a%2Fb", p).unwrap(), "a%2Fb");
            assert_eq!(f(".media", p).unwrap(), ".media");
            for refused in ["/media", "/", "//media"] {
                let e = f(refused, p).unwrap_err();
                assert!(e.contains("leading slash"), "{e}");
                assert!(e.contains("500"), "{e}");
            }
            // `..` is in normal form: django-storages writes `../upload/...` as it is.
            assert_eq!(f("..", p).unwrap(), "..");
            for refused in ["a//b", "./a", "a/../b", "a/."] {
                let e = f(refused, p).unwrap_err();
                assert!(e.contains("Attempted access"), "{refused}: {e}");
            }
        }
        assert!(f("/media/", Provider::S3).unwrap_err().contains("`media`"));
        assert!(f("a//b", Provider::S3).unwrap_err().contains("`a/b`"));
    }

    #[test]
    fn azure_folders_drop_leading_slashes_and_dots() {
        let a = Provider::Azure;
        assert_eq!(f("/media", a).unwrap(), "media");
        assert_eq!(f("//media/", a).unwrap(), "media");
        assert_eq!(f("/", a).unwrap(), "");
        assert_eq!(f(".media", a).unwrap(), "media");
        assert!(f("///media", a).is_err());
        assert!(f("a//b", a).is_err());
    }

    #[test]
    fn ints_as_python_reads_them() {
        assert_eq!(python_int("3600"), Some(3600));
        assert_eq!(python_int(" 3600 \t"), Some(3600));
        assert_eq!(python_int("+60"), Some(60));
        assert_eq!(python_int("-5"), Some(-5));
        assert_eq!(python_int("3_600"), Some(3600));
        for bad in [
            "", " ", "1h", "3__600", "_1", "1_", "1.5", "1e3", "0x10", "- 1",
        ] {
            assert_eq!(python_int(bad), None, "{bad}");
        }
        assert_eq!(expiry(&env("3_600"), "E").unwrap(), 3600);
        assert!(
            expiry(&env(""), "E")
                .unwrap_err()
                .0
                .contains("does not start")
        );
        assert!(expiry(&env("0"), "E").unwrap_err().0.contains("no SAS"));
        assert!(expiry(&env("-1"), "E").unwrap_err().0.contains("expired"));
    }

    #[test]
    fn booleans_as_label_studio_reads_them() {
        assert!(boolean(&env("TRUE"), "B").unwrap());
        assert!(!boolean(&env("not"), "B").unwrap());
        for bad in ["y", "n", " true", "true ", "", "2"] {
            assert!(boolean(&env(bad), "B").is_err(), "{bad}");
        }
    }

    #[test]
    fn storage_type_is_compared_exactly() {
        assert_eq!(storage_type(&env("s3")).unwrap(), Provider::S3);
        let e = storage_type(&env("S3")).unwrap_err().0;
        assert!(e.contains("local disk") && e.contains("`s3`"), "{e}");
        assert!(storage_type(&env("azure ")).is_err());
        assert!(storage_type(&env("")).is_err());
    }

    #[test]
    fn regions_and_buckets_as_botocore_checks_them() {
        assert_eq!(region(&env("eu-west-1")).unwrap().unwrap(), "eu-west-1");
        assert_eq!(region(&env("US-EAST-1")).unwrap().unwrap(), "US-EAST-1");
        assert_eq!(region(&env("")).unwrap(), None);
        for bad in [
            "us-east-1 ",
            " us-east-1",
            "us_east_1",
            "-us",
            "https://s3.amazonaws.com",
        ] {
            assert!(region(&env(bad)).is_err(), "{bad}");
        }
        let mut w = Vec::new();
        assert!(signature_version(env("s3v4"), &mut w).is_ok());
        assert!(w.is_empty());
        assert!(signature_version(env("v4-query"), &mut w).is_ok());
        assert_eq!(w.len(), 1);
        for bad in ["S3V4", "", "s3v4 ", "sigv4"] {
            let e = signature_version(env(bad), &mut w).unwrap_err().0;
            assert!(e.contains("Unknown Signature Version"), "{e}");
        }
        assert!(s3_endpoint(&env("http://127.0.0.1:9000/")).is_ok());
        for bad in [
            "http://127.0.0.1:9000 ",
            " https://s3.example.com",
            "127.0.0.1:9000",
            "",
        ] {
            let e = s3_endpoint(&env(bad)).unwrap_err().0;
            assert!(e.contains("500"), "{e}");
        }
        assert!(s3_bucket(&env("my.bucket_1-x")).is_ok());
        assert!(s3_bucket(&env("arn:aws:s3:us-east-1:1:accesspoint/ap")).is_ok());
        for bad in ["b ", "b/", "s3://b", ""] {
            assert!(s3_bucket(&env(bad)).is_err(), "{bad}");
        }
    }
}
