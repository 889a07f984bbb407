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
    /// Lisa answers at most this many messages of one contact per `rate_limit_window` (a
    /// burst counts once; a password is always checked). Beyond it the messages are kept in
    /// the conversation unanswered, and the contact is told so once per window.
    pub rate_limit_messages: u32,
    /// The rate limit's window, from the first message answered in it.
    pub rate_limit_window: Duration,
}

impl Default for BotConfig {
    fn default() -> Self {
        Self {
            inactivity: Duration::minutes(30),
            summary_lines: 10,
            burst_window: Duration::seconds(2),
            note_prefix: "/notiz ".into(),
            rate_limit_messages: 20,
            rate_limit_window: Duration::minutes(10),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} must be a whole number of minutes between 1 and 1440, got {value:?}")]
    InactivityMinutes { name: &'static str, value: String },
    #[error("{name} must be a whole number of milliseconds between 0 and 10000, got {value:?}")]
    BurstWindow { name: &'static str, value: String },
    #[error("{name} must be a whole number of messages between 1 and 1000, got {value:?}")]
    RateLimitMessages { name: &'static str, value: String },
    #[error("{name} must be a whole number of minutes between 1 and 1440, got {value:?}")]
    RateLimitWindow { name: &'static str, value: String },
}

impl BotConfig {
    pub const INACTIVITY_VAR: &'static str = "INACTIVITY_MINUTES";
    pub const BURST_WINDOW_VAR: &'static str = "BURST_WINDOW_MS";
    pub const NOTE_PREFIX_VAR: &'static str = servicekanal_shared::runtime::env::AGENT_NOTE_PREFIX;
    pub const RATE_LIMIT_MESSAGES_VAR: &'static str = "RATE_LIMIT_MESSAGES";
    pub const RATE_LIMIT_WINDOW_VAR: &'static str = "RATE_LIMIT_WINDOW_MINUTES";

    /// Reads `INACTIVITY_MINUTES` (default 30), `BURST_WINDOW_MS` (default 2000),
    /// `RATE_LIMIT_MESSAGES` (default 20) and `RATE_LIMIT_WINDOW_MINUTES` (default 10) through
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
        if let Some(value) = lookup(Self::RATE_LIMIT_MESSAGES_VAR) {
            config.rate_limit_messages = value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|m| (1..=1000).contains(m))
                .ok_or(ConfigError::RateLimitMessages {
                    name: Self::RATE_LIMIT_MESSAGES_VAR,
                    value,
                })?;
        }
        if let Some(value) = lookup(Self::RATE_LIMIT_WINDOW_VAR) {
            let minutes = value
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|m| (1..=1440).contains(m))
                .ok_or(ConfigError::RateLimitWindow {
                    name: Self::RATE_LIMIT_WINDOW_VAR,
                    value,
                })?;
            config.rate_limit_window = Duration::minutes(minutes);
        }
        if let Some(prefix) = lookup(Self::NOTE_PREFIX_VAR).filter(|p| !p.trim().is_empty()) {
            config.note_prefix = prefix;
        }
        Ok(config)
    }
}
