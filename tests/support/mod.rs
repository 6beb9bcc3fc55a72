//! Shared by the integration tests: `mod support;` at the top of a test file.
#![allow(dead_code)]

pub mod browser;
pub mod check;
pub mod cloud_answers;
pub mod containers;
pub mod cred_standins;
pub mod emulators;
pub mod label_studio;
pub mod ls_matrix;
pub mod tls;

#[allow(unused_imports)]
pub use emulators::{
    emulators, env_file, object_path, require_emulators, skip_or_fail, test_state_dir,
};
