//! Exit codes shared by every command (design.md, "Exit codes").

/// What a run ended with; `code()` is the process exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Every check passed (warnings allowed).
    Passed,
    /// A check failed or the load verdict is "slow".
    Failed,
    /// Invalid input (flags, env, files), found before any request was sent.
    BadInput,
    /// The run could not finish (interrupted, internal error); cleanup still ran.
    Incomplete,
}

impl Exit {
    /// The process exit status for this outcome.
    pub fn code(self) -> u8 {
        match self {
            Exit::Passed => 0,
            Exit::Failed => 1,
            Exit::BadInput => 2,
            Exit::Incomplete => 3,
        }
    }
}
