//! The flag values of the core's plain enums: names and help exactly as `lsprobe --help` shows
//! them (what `#[derive(ValueEnum)]` would generate, kept here so the core never imports clap).
use clap::ValueEnum;
use clap::builder::PossibleValue;

use crate::emulators::{EmulatorBackend, EmulatorProvider, EnvFormat};
use crate::report::{ReportFormat, ShowFormat};

/// One possible value with its help line.
fn value(name: &'static str, help: &'static str) -> Option<PossibleValue> {
    Some(PossibleValue::new(name).help(help))
}

impl ValueEnum for ReportFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Self::Text,
            Self::Json,
            Self::Junit,
            Self::Markdown,
            Self::Html,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Self::Text => value("text", "The terminal summary"),
            Self::Json => value("json", "JSON per reports/report.schema.json"),
            Self::Junit => value("junit", "JUnit XML for CI systems"),
            Self::Markdown => value(
                "markdown",
                "A Markdown summary for CI job summaries ($GITHUB_STEP_SUMMARY, GitLab)",
            ),
            Self::Html => value("html", "One self-contained HTML file with plots"),
        }
    }
}

impl ValueEnum for ShowFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::Text, Self::Json]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Self::Text => value("text", "For people"),
            Self::Json => value("json", "For programs"),
        }
    }
}

impl ValueEnum for EmulatorProvider {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::S3, Self::S3Iam, Self::Gcs, Self::Azure, Self::All]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Self::S3 => value("s3", "s3rver: S3 with CORS rules enforced"),
            Self::S3Iam => value(
                "s3-iam",
                "moto with IAM enforcement: the guide's policy and users missing one action each",
            ),
            Self::Gcs => value("gcs", "fake-gcs-server"),
            Self::Azure => value("azure", "Azurite (blob service)"),
            Self::All => value("all", "All of the above"),
        }
    }
}

impl ValueEnum for EmulatorBackend {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::Auto, Self::Native, Self::Docker]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Self::Auto => value("auto", "Docker when an engine answers, native otherwise"),
            Self::Native => value(
                "native",
                "Processes installed from npm and PyPI into LSPROBE_HOME",
            ),
            Self::Docker => value(
                "docker",
                "Containers of the public images through a Docker engine",
            ),
        }
    }
}

impl ValueEnum for EnvFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::EnvList, Self::Json]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Self::EnvList => value(
                "env-list",
                "`KEY=VALUE` lines, as `docker run --env-file` and `lsprobe --env-file` read them",
            ),
            Self::Json => value("json", "A JSON object"),
        }
    }
}
