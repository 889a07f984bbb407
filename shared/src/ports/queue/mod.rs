//! The `Queue` port: SQS in AWS, an in-process queue locally. Both deliver messages as
//! `aws_lambda_events` SQS messages, so consumers run the same code in both places.
//!
//! Queue bodies carry keys and facts, never personal data: a dead-letter queue keeps messages
//! for up to 14 days, longer than the 7 days promised for bot conversations.

pub mod memory;
pub mod sqs;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;
use std::time::Duration;

/// FIFO queues drop a second message with the same deduplication id within this window.
pub const FIFO_DEDUP_WINDOW: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    /// FIFO: messages of one group are delivered in order, one at a time.
    pub group_id: Option<String>,
    /// FIFO: a repeat within five minutes is accepted but not delivered again.
    pub dedup_id: Option<String>,
    /// Standard queues: invisible for this long after sending (at most [`MAX_DELAY`]).
    pub delay: Option<Duration>,
}

/// SQS delays a message by at most 15 minutes.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

impl OutgoingMessage {
    pub fn fifo(body: String, group_id: impl Into<String>, dedup_id: impl Into<String>) -> Self {
        Self {
            body,
            group_id: Some(group_id.into()),
            dedup_id: Some(dedup_id.into()),
            delay: None,
        }
    }

    pub fn standard(body: String) -> Self {
        Self {
            body,
            group_id: None,
            dedup_id: None,
            delay: None,
        }
    }

    /// Delivered only after `delay`, whole seconds (a timer).
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Refuses what SQS would refuse: missing FIFO ids, a delay on a FIFO message (SQS
    /// only delays whole FIFO queues), a delay over 15 minutes.
    pub fn check(&self, fifo: bool) -> Result<(), QueueError> {
        if fifo && (self.group_id.is_none() || self.dedup_id.is_none()) {
            return Err(QueueError::FifoIdsMissing);
        }
        match self.delay {
            Some(_) if fifo => Err(QueueError::DelayOnFifo),
            Some(d) if d > MAX_DELAY => Err(QueueError::DelayTooLong(d.as_secs())),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("a FIFO queue needs a message group id and a deduplication id")]
    FifoIdsMissing,
    #[error("a FIFO message cannot carry its own delay")]
    DelayOnFifo,
    #[error("a delay of {0} s is longer than SQS's 900 s")]
    DelayTooLong(u64),
    #[error("queue backend failed: {0}")]
    Backend(String),
}

#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, message: OutgoingMessage) -> Result<(), QueueError>;

    /// Takes up to `max` visible messages (what an event source mapping would hand a
    /// function). They stay invisible until acknowledged or released.
    async fn receive(&self, max: usize) -> Result<Vec<SqsMessage>, QueueError>;

    /// Deletes a processed message by its receipt handle.
    async fn acknowledge(&self, receipt_handle: &str) -> Result<(), QueueError>;

    /// Makes a received message visible again at once, for another try.
    async fn release(&self, receipt_handle: &str) -> Result<(), QueueError>;
}

/// What became of one message of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemOutcome {
    Done,
    /// Failed, a later delivery may succeed: reported as a batch item failure.
    Retry,
    /// Can never succeed (malformed): dropped, not retried.
    Dropped,
}

/// Goes through an SQS batch, one message at a time, and answers with its batch item failures
/// (`ReportBatchItemFailures`): the messages `handle_one` says to retry, and after a failure
/// the rest of that message group, so FIFO order per group holds (those are not handled).
pub async fn consume<'a, F, Fut>(
    messages: &'a [SqsMessage],
    mut handle_one: F,
) -> aws_lambda_events::event::sqs::SqsBatchResponse
where
    F: FnMut(&'a SqsMessage) -> Fut,
    Fut: std::future::Future<Output = ItemOutcome>,
{
    let mut batch = BatchReport::default();
    for message in messages {
        if batch.waits(message) {
            continue;
        }
        let outcome = handle_one(message).await;
        batch.record(message, outcome);
    }
    batch.response
}

/// The batch item failures of an SQS batch, kept as [`consume`] goes through it.
#[derive(Debug, Default)]
struct BatchReport {
    response: aws_lambda_events::event::sqs::SqsBatchResponse,
    failed_groups: std::collections::HashSet<String>,
}

impl BatchReport {
    /// Whether `message` must wait because its group failed earlier in this batch (it is
    /// then reported for redelivery already).
    fn waits(&mut self, message: &SqsMessage) -> bool {
        let blocked = group_of(message).is_some_and(|g| self.failed_groups.contains(g));
        if blocked {
            self.record(message, ItemOutcome::Retry);
        }
        blocked
    }

    fn record(&mut self, message: &SqsMessage, outcome: ItemOutcome) {
        if outcome != ItemOutcome::Retry {
            return;
        }
        if let Some(group) = group_of(message) {
            self.failed_groups.insert(group.to_owned());
        }
        let mut failure = aws_lambda_events::event::sqs::BatchItemFailure::default();
        failure.item_identifier = message.message_id.clone().unwrap_or_default();
        self.response.batch_item_failures.push(failure);
    }
}

/// The message group id attribute of a received FIFO message.
pub fn group_of(message: &SqsMessage) -> Option<&str> {
    message.attributes.get("MessageGroupId").map(String::as_str)
}

/// The deduplication id attribute of a received FIFO message.
pub fn dedup_id_of(message: &SqsMessage) -> Option<&str> {
    message
        .attributes
        .get("MessageDeduplicationId")
        .map(String::as_str)
}
