//! The recording outbox: the `WhatsApp` adapter of tests and the local stack. It checks the
//! same limits as the Graph API adapter and keeps every message "sent", in order. The local
//! stack's outbox is journalled to a file (one JSON line per message, written before `send`
//! returns), so what WhatsApp "delivered" survives a crash as it would on the customer's phone.

use super::{OutboundContent, Recipient, Sent, WhatsApp, WhatsAppError};
use crate::ports::clock::SharedClock;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use ulid::Ulid;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub wamid: String,
    /// The phone number (`to`) or user id (`recipient`) it went to.
    pub to: Recipient,
    pub content: OutboundContent,
    pub at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct RecordingOutbox {
    clock: SharedClock,
    sent: Mutex<Vec<OutboxEntry>>,
    read: Mutex<Vec<(String, bool)>>,
    /// Where each sent message is appended (the local stack's `outbox.jsonl`).
    journal: Option<Mutex<std::fs::File>>,
}

impl RecordingOutbox {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            sent: Mutex::new(Vec::new()),
            read: Mutex::new(Vec::new()),
            journal: None,
        }
    }

    /// An outbox that appends every sent message to `path` and starts with what it holds.
    /// A line cut short by a crash is skipped (that message was not sent).
    pub fn journalled(clock: SharedClock, path: &Path) -> std::io::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let sent = text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        if !text.is_empty() && !text.ends_with('\n') {
            // The cut-short line ends here, so the next entry starts a line of its own.
            file.write_all(b"\n")?;
        }
        Ok(Self {
            sent: Mutex::new(sent),
            journal: Some(Mutex::new(file)),
            ..Self::new(clock)
        })
    }

    /// Notes a message another adapter sent (see [`Mirrored`]).
    pub fn record(&self, to: &Recipient, content: &OutboundContent, wamid: &str) {
        let entry = OutboxEntry {
            wamid: wamid.to_owned(),
            to: to.clone(),
            content: content.clone(),
            at: self.clock.now(),
        };
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(journal) = &self.journal {
            // One write per line: a killed process leaves whole lines (the page cache keeps
            // them); a full disk loses the local record only, never the "delivery".
            let mut line = serde_json::to_vec(&entry).unwrap_or_default();
            line.push(b'\n');
            let mut file = journal.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = file.write_all(&line) {
                tracing::error!(error = %e, "the local outbox journal could not be written");
            }
        }
        sent.push(entry);
    }

    /// Everything sent so far, oldest first.
    pub fn sent(&self) -> Vec<OutboxEntry> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Messages marked as read, with whether the typing indicator was shown.
    pub fn read_marks(&self) -> Vec<(String, bool)> {
        self.read_marks_from(0)
    }

    /// The read marks after the first `start` (a watcher's cheap look at what is new).
    pub fn read_marks_from(&self, start: usize) -> Vec<(String, bool)> {
        let read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.get(start..).unwrap_or_default().to_vec()
    }
}

#[async_trait]
impl WhatsApp for RecordingOutbox {
    async fn send(&self, to: &Recipient, content: &OutboundContent) -> Result<Sent, WhatsAppError> {
        content.validate()?;
        let wamid = format!("wamid.local.{}", Ulid::new());
        self.record(to, content, &wamid);
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

/// Sends through a real adapter (the Graph API of a developer's test number) and keeps what
/// went out in the outbox too, so the local stack's page still shows it.
pub struct Mirrored {
    pub primary: std::sync::Arc<dyn WhatsApp>,
    pub outbox: std::sync::Arc<RecordingOutbox>,
}

#[async_trait]
impl WhatsApp for Mirrored {
    async fn send(&self, to: &Recipient, content: &OutboundContent) -> Result<Sent, WhatsAppError> {
        let sent = self.primary.send(to, content).await?;
        self.outbox.record(to, content, &sent.wamid);
        Ok(sent)
    }

    async fn mark_read(&self, wamid: &str, typing: bool) -> Result<(), WhatsAppError> {
        self.primary.mark_read(wamid, typing).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::clock::ManualClock;
    use std::sync::Arc;

    #[tokio::test]
    async fn records_in_order_and_refuses_what_the_graph_api_would() {
        let clock = ManualClock::new(DateTime::from_timestamp(1_795_255_200, 0).unwrap());
        let outbox = RecordingOutbox::new(Arc::new(clock));
        let erika = Recipient::Phone("4917612345678".into());
        let first = outbox
            .send(
                &erika,
                &OutboundContent::Text {
                    body: "Hallo".into(),
                },
            )
            .await
            .unwrap();
        let second = outbox
            .send(
                &erika,
                &OutboundContent::Text {
                    body: "Wie kann ich helfen?".into(),
                },
            )
            .await
            .unwrap();
        assert_ne!(first.wamid, second.wamid);
        let too_long = OutboundContent::Text {
            body: "x".repeat(5000),
        };
        assert!(matches!(
            outbox.send(&erika, &too_long).await,
            Err(WhatsAppError::Invalid(_))
        ));
        outbox.mark_read("wamid.IN", true).await.unwrap();
        let sent = outbox.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].wamid, first.wamid);
        assert_eq!(
            sent[1].content,
            OutboundContent::Text {
                body: "Wie kann ich helfen?".into()
            }
        );
        assert_eq!(outbox.read_marks(), [("wamid.IN".to_owned(), true)]);
    }
}
