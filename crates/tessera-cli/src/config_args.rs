//! The options that name the configuration, shared by `serve` and the
//! admin commands.

use std::path::PathBuf;

/// Options shared by every command that reads the configuration.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArgs {
    /// The configuration file (default: ./tessera.toml if it exists).
    #[arg(long, env = "TESSERA_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// A seed profile compiled into the binary instead of a file: groupchat,
    /// groo, teamgantt, teamday or orgroles (see profiles/ and docs/profiles.md).
    #[arg(
        long,
        env = "TESSERA_PROFILE",
        global = true,
        conflicts_with = "config"
    )]
    pub profile: Option<String>,
}

impl ConfigArgs {
    /// The configuration these options name, with `TESSERA_*` variables on top.
    pub fn load(&self) -> Result<tessera_server::Config, tessera_server::config::ConfigError> {
        match &self.profile {
            Some(name) => tessera_server::Config::load_profile(name),
            None => tessera_server::Config::load(self.config.as_deref()),
        }
    }
}
