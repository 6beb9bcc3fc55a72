//! The output formats a command can be asked for (plain values; the command layer maps flags
//! onto them).

/// Report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportFormat {
    /// The terminal summary.
    Text,
    /// JSON per reports/report.schema.json.
    Json,
    /// JUnit XML for CI systems.
    Junit,
    /// A Markdown summary for CI job summaries ($GITHUB_STEP_SUMMARY, GitLab).
    Markdown,
    /// One self-contained HTML file with plots.
    Html,
}

/// Output formats of `config show`, `emulators status` and `report compare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowFormat {
    /// For people.
    Text,
    /// For programs.
    Json,
}
