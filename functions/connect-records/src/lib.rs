//! connect-records: keeps Amazon Connect's own records of our contacts to our promises. It
//! reads the table's change stream (filtered in template.yaml to callback requests and
//! handover chats) and, when such an item goes (done, past its deadline, erased), redacts the
//! Connect contact's customer endpoint (`DeleteContactData`). A redaction that fails for now
//! is the batch's failure from that record on: Lambda retries it, then hands the range to
//! the on-failure queue, whose alarm calls someone.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use servicekanal_shared::ports::contact_records::{ContactRecords, to_redact};
use servicekanal_shared::runtime::{Env, StartupError, env};
use std::sync::Arc;

/// What the function reads from its environment at cold start (template.yaml sets it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub connect_instance_id: String,
}

impl Environment {
    pub fn read(env: &Env) -> Result<Self, StartupError> {
        Ok(Self {
            connect_instance_id: env.required(env::CONNECT_INSTANCE_ID)?,
        })
    }
}

pub struct Ports {
    pub records: Arc<dyn ContactRecords>,
}

/// What one batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redacted {
    /// Connect contacts redacted, in stream order.
    pub contacts: Vec<String>,
    /// Records that named nothing to redact (other changes, unreadable records: logged).
    pub skipped: usize,
    /// Records handled, in stream order: everything before `failed_at`.
    pub handled: usize,
    /// Where a retry starts: the sequence number of the record that failed.
    pub failed_at: Option<String>,
}

/// Redacts what the batch's records call for, in order; stops at the first failure.
pub async fn redact(event: &Event, ports: &Ports) -> Redacted {
    let mut done = Redacted::default();
    for record in &event.records {
        let contact = match to_redact(record) {
            Ok(Some(contact)) => contact,
            Ok(None) => {
                done.skipped += 1;
                continue;
            }
            Err(e) => {
                // Not one of our items: no retry would read it.
                tracing::error!(error = %e, event_id = %record.event_id, "change record not readable; skipped");
                done.skipped += 1;
                continue;
            }
        };
        match ports.records.redact(&contact).await {
            Ok(()) => {
                tracing::info!(connect_contact_id = %contact.id, "Connect contact redacted");
                done.contacts.push(contact.id);
            }
            Err(e) => {
                tracing::warn!(error = %e, connect_contact_id = %contact.id, "redaction failed; the stream retries it");
                done.failed_at = Some(record.change.sequence_number.clone().unwrap_or_default());
                break;
            }
        }
    }
    done.handled = done.contacts.len() + done.skipped;
    done
}

/// The Lambda handler: the batch item failure names where the stream retries.
pub async fn handle(event: Event, ports: &Ports) -> DynamoDbEventResponse {
    let done = redact(&event, ports).await;
    let mut response = DynamoDbEventResponse::default();
    if let Some(sequence) = done.failed_at {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence);
        response.batch_item_failures.push(failure);
    }
    response
}
