//! Label Studio's storage configuration, read exactly as Label Studio reads it:
//! flags > named file (env.list or ls-values.yaml) > process environment.
pub mod as_label_studio;
pub mod aws_chain;
pub mod credentials;
pub mod env_list;
pub mod environment;
pub mod gcs_external;
pub mod header_value;
pub mod helm;
pub mod limits;
mod options;
pub mod parse;
pub mod resolve;
pub mod secret;
pub mod show;
pub mod target;
pub mod vars;

pub use aws_chain::AwsChain;
pub use options::TargetOptions;
pub use resolve::{Resolved, resolve};
pub use secret::Secret;
pub use target::*;

/// Invalid configuration: the message names the input (file:line, key path, flag, variable)
/// and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);
