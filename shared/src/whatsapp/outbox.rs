//! The recording outbox: the `WhatsApp` adapter of tests and the local stack. It checks the
//! same limits as the Graph API adapter and keeps every message "sent", in order.

use super::{OutboundContent, Sent, WhatsApp, WhatsAppError};
use crate::clock::SharedClock;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Mutex;
use ulid::Ulid;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutboxEntry {
    pub wamid: String,
    pub to: String,
    pub content: OutboundContent,
    pub at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct RecordingOutbox {
    clock: SharedClock,
    sent: Mutex<Vec<OutboxEntry>>,
    read: Mutex<Vec<(String, bool)>>,
}

impl RecordingOutbox {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            sent: Mutex::new(Vec::new()),
            read: Mutex::new(Vec::new()),
        }
    }

    /// Everything sent so far, oldest first.
    pub fn sent(&self) -> Vec<OutboxEntry> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Messages marked as read, with whether the typing indicator was shown.
    pub fn read_marks(&self) -> Vec<(String, bool)> {
        self.read.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl WhatsApp for RecordingOutbox {
    async fn send(&self, to: &str, content: &OutboundContent) -> Result<Sent, WhatsAppError> {
        content.validate()?;
        let wamid = format!("wamid.local.{}", Ulid::new());
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(OutboxEntry {
                wamid: wamid.clone(),
                to: to.to_owned(),
                content: content.clone(),
                at: self.clock.now(),
            });
        Ok(Sent { wamid })
    }

    async fn mark_read(&self, wamid: &str, typing: bool) -> Result<(), WhatsAppError> {
        self.read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((wamid.to_owned(), typing));
        Ok(())
    }
}
