//! The `WhatsApp` port: sending through the Graph API (HTTPS) or into a recording outbox, with
//! the Cloud API's limits checked before anything is sent.

pub mod content;
pub mod graph;
pub mod outbox;
pub mod payload;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub use crate::domain::Recipient;
pub use content::{LimitViolation, ListRow, ListSection, OutboundContent, ReplyButton, limits};

/// Free-form messages may be sent only this long after the customer's last message.
pub const SERVICE_WINDOW: Duration = Duration::hours(24);

/// Whether free-form messages may go to a contact whose last message came at `last_inbound`.
pub fn service_window_open(last_inbound: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now < last_inbound + SERVICE_WINDOW
}

/// The Graph API's answer to a sent message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The WhatsApp message id (`wamid....`); statuses refer to it.
    pub wamid: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WhatsAppError {
    #[error("message exceeds a WhatsApp limit: {0}")]
    Invalid(#[from] LimitViolation),
    /// 131047: more than 24 hours since the customer's last message; only templates allowed.
    #[error("outside the 24-hour customer-service window (131047)")]
    OutsideWindow,
    /// 131026, 131030, 131021, ...: this recipient cannot get the message.
    #[error("recipient cannot receive this message ({code})")]
    InvalidRecipient { code: i64 },
    /// 190 and friends: the access token is wrong or expired.
    #[error("the Graph API refused our credentials ({code})")]
    Unauthorized { code: i64 },
    /// 130429, 131056, 429: still throttled after the retries.
    #[error("throttled by the Graph API ({code}) after {attempts} attempts")]
    Throttled { code: i64, attempts: u32 },
    /// 5xx or a transport failure, after the retries.
    #[error("the Graph API is unavailable after {attempts} attempts: {detail}")]
    Unavailable { attempts: u32, detail: String },
    /// Anything else the Graph API rejected; retrying will not help.
    #[error("the Graph API rejected the request ({code}): {message}")]
    Rejected { code: i64, message: String },
}

impl WhatsAppError {
    /// Whether a later try (e.g. the next queue delivery) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            WhatsAppError::Throttled { .. } | WhatsAppError::Unavailable { .. }
        )
    }

    /// Whether the message itself can never be delivered, so retrying it is pointless.
    /// Credentials are not the message's fault: those sends wait for ops to fix them.
    pub fn is_permanent(&self) -> bool {
        !self.is_transient() && !matches!(self, WhatsAppError::Unauthorized { .. })
    }

    /// The Graph API error code, where there is one.
    pub fn code(&self) -> Option<i64> {
        match self {
            WhatsAppError::OutsideWindow => Some(131047),
            WhatsAppError::InvalidRecipient { code }
            | WhatsAppError::Unauthorized { code }
            | WhatsAppError::Throttled { code, .. }
            | WhatsAppError::Rejected { code, .. } => Some(*code),
            WhatsAppError::Invalid(_) | WhatsAppError::Unavailable { .. } => None,
        }
    }
}

#[async_trait]
pub trait WhatsApp: Send + Sync {
    /// Sends a message to a contact's phone number or user id; validates the limits first.
    async fn send(&self, to: &Recipient, content: &OutboundContent) -> Result<Sent, WhatsAppError>;

    /// Marks an inbound message as read and shows the typing indicator while Lisa answers.
    async fn mark_read(&self, wamid: &str, typing: bool) -> Result<(), WhatsAppError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_window_closes_after_24_hours() {
        let last = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(service_window_open(
            last,
            last + Duration::hours(23) + Duration::minutes(59)
        ));
        assert!(!service_window_open(last, last + Duration::hours(24)));
    }
}
