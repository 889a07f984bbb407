//! bot-reply's settings (environment variables, with defaults).

use super::*;

/// Settings of the function (environment in AWS, flags in the local stack).
#[derive(Clone, Debug)]
pub struct BotConfig {
    /// A bot conversation without messages for this long is closed.
    pub inactivity: Duration,
    /// How many of the last messages the handover summary shows the agent.
    pub summary_lines: usize,
}

impl Default for BotConfig {
    fn default() -> Self {
        Self {
            inactivity: Duration::minutes(30),
            summary_lines: 10,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} must be a whole number of minutes between 1 and 1440, got {value:?}")]
    InactivityMinutes { name: &'static str, value: String },
}

impl BotConfig {
    pub const INACTIVITY_VAR: &'static str = "INACTIVITY_MINUTES";

    /// Reads `INACTIVITY_MINUTES` (default 30) through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(value) = lookup(Self::INACTIVITY_VAR) {
            let minutes = value
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|m| (1..=1440).contains(m))
                .ok_or(ConfigError::InactivityMinutes {
                    name: Self::INACTIVITY_VAR,
                    value,
                })?;
            config.inactivity = Duration::minutes(minutes);
        }
        Ok(config)
    }
}
