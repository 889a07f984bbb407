//! bot-reply's settings (environment variables, with defaults).

use super::*;

/// Settings of the function (environment in AWS, flags in the local stack).
#[derive(Clone, Debug)]
pub struct BotConfig {
    /// A bot conversation without messages for this long is closed.
    pub inactivity: Duration,
    /// How many of the last messages the handover summary shows the agent.
    pub summary_lines: usize,
    /// Text messages of one contact that follow each other within this time are one concern
    /// ("Hallo" / "ich hab ne frage" / "zu meiner rechnung") and get one answer; a message's
    /// answer waits at most this long for a follower. Zero: every message on its own.
    pub burst_window: Duration,
    /// An agent's chat message starting with this is a contract-change note, not relayed.
    pub note_prefix: String,
}

impl Default for BotConfig {
    fn default() -> Self {
        Self {
            inactivity: Duration::minutes(30),
            summary_lines: 10,
            burst_window: Duration::seconds(2),
            note_prefix: "/notiz ".into(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} must be a whole number of minutes between 1 and 1440, got {value:?}")]
    InactivityMinutes { name: &'static str, value: String },
    #[error("{name} must be a whole number of milliseconds between 0 and 10000, got {value:?}")]
    BurstWindow { name: &'static str, value: String },
}

impl BotConfig {
    pub const INACTIVITY_VAR: &'static str = "INACTIVITY_MINUTES";
    pub const BURST_WINDOW_VAR: &'static str = "BURST_WINDOW_MS";
    pub const NOTE_PREFIX_VAR: &'static str = servicekanal_shared::runtime::env::AGENT_NOTE_PREFIX;

    /// Reads `INACTIVITY_MINUTES` (default 30) and `BURST_WINDOW_MS` (default 2000) through
    /// `lookup`.
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
        if let Some(value) = lookup(Self::BURST_WINDOW_VAR) {
            let millis = value
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|m| (0..=10_000).contains(m))
                .ok_or(ConfigError::BurstWindow {
                    name: Self::BURST_WINDOW_VAR,
                    value,
                })?;
            config.burst_window = Duration::milliseconds(millis);
        }
        if let Some(prefix) = lookup(Self::NOTE_PREFIX_VAR).filter(|p| !p.trim().is_empty()) {
            config.note_prefix = prefix;
        }
        Ok(config)
    }
}
