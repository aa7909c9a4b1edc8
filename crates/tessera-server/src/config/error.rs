//! What can be wrong with a configuration: each names the file key or
//! the variable at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file does not parse, or one of its keys is unknown or has a bad value.
    #[error("in the configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
    /// A `TESSERA_*` variable names no setting, or has a bad value.
    #[error("the variable {name} is not valid: {message}")]
    Env { name: String, message: String },
    /// The layers together do not make a configuration (roles, kinds, …).
    #[error("`{key}` is not valid: {message}")]
    Value { key: String, message: String },
}
