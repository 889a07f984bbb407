//! The `ContactRecords` port: Amazon Connect's own records of our contacts. Connect keeps a
//! contact record for 24 months with the customer's number as `CUSTOMER_ENDPOINT`, longer
//! than we promise; when our item for a Connect contact goes (a callback request done, past its
//! deadline or erased; a handover chat's item past the conversation's deadline or erased), the
//! contact's customer endpoint is redacted in Connect too (`DeleteContactData`).
//!
//! The connect-records function reads the table's change stream and calls this for every
//! change [`to_redact`] names; the local stack has no Connect and records the calls.

use crate::domain::{CallbackRequest, CallbackStatus};
use crate::ports::store::{Record, RecordKind, StoreError};
use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum ContactRecordsError {
    /// Throttled, a server error, or a contact still in progress: try again later.
    #[error("Connect could not redact the contact now: {0}")]
    Unavailable(String),
    /// Refused for good (permissions, configuration).
    #[error("Connect refused to redact the contact: {0}")]
    Refused(String),
}

/// A contact of ours in Amazon Connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectContact {
    pub id: String,
    pub kind: ContactKindInConnect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactKindInConnect {
    /// A call that left a callback request: its customer endpoint is the caller's number.
    Call,
    /// A handover chat: it carries our contact attributes (the customer number, the
    /// conversation's reference), which `DeleteContactData` does not reach.
    Chat,
}

/// The contact attributes a handover chat is started with that name the customer; blanked
/// when the chat's record is redacted.
pub const CHAT_PERSONAL_ATTRIBUTES: [&str; 2] = ["customerRef", "conversation"];

#[async_trait]
pub trait ContactRecords: Send + Sync {
    /// Removes the customer's endpoint from the record of the contact, and a chat's personal
    /// attributes. A contact redacted before, or no longer known to Connect, is no error.
    async fn redact(&self, contact: &ConnectContact) -> Result<(), ContactRecordsError>;
}

/// The Connect contact whose record is to be redacted because of this change, if any: an
/// item standing for a Connect contact was removed (by the sweeper, TTL or erasure), or a
/// callback request became done.
pub fn to_redact(change: &EventRecord) -> Result<Option<ConnectContact>, StoreError> {
    let image = |item: &serde_dynamo::Item| -> Result<Option<Record>, StoreError> {
        if item.is_empty() {
            Ok(None)
        } else {
            Record::from_item(item).map(Some)
        }
    };
    let old = image(&change.change.old_image)?;
    let new = image(&change.change.new_image)?;
    let stands_for_contact = |r: &Record| {
        let kind = match r.kind {
            RecordKind::CallbackRequest => ContactKindInConnect::Call,
            RecordKind::DeskChat => ContactKindInConnect::Chat,
            _ => return None,
        };
        r.key.connect_contact_id().map(|id| ConnectContact {
            id: id.to_owned(),
            kind,
        })
    };
    Ok(match (change.event_name.as_str(), old, new) {
        ("REMOVE", Some(old), _) => stands_for_contact(&old),
        ("MODIFY", Some(old), Some(new)) if new.kind == RecordKind::CallbackRequest => {
            let before: CallbackRequest = old.body()?;
            let after: CallbackRequest = new.body()?;
            (before.status != CallbackStatus::Done && after.status == CallbackStatus::Done)
                .then(|| stands_for_contact(&new))
                .flatten()
        }
        _ => None,
    })
}

/// The local stack's Connect: remembers which contacts would have been redacted.
#[derive(Default)]
pub struct RecordedRedactions {
    redacted: Mutex<Vec<String>>,
}

impl RecordedRedactions {
    pub fn redacted(&self) -> Vec<String> {
        self.redacted.lock().expect("not poisoned").clone()
    }
}

#[async_trait]
impl ContactRecords for RecordedRedactions {
    async fn redact(&self, contact: &ConnectContact) -> Result<(), ContactRecordsError> {
        let mut redacted = self.redacted.lock().expect("not poisoned");
        if !redacted.contains(&contact.id) {
            redacted.push(contact.id.clone());
        }
        Ok(())
    }
}

/// Amazon Connect's `DeleteContactData` on the instance.
#[cfg(feature = "connect")]
pub struct ConnectContactRecords {
    client: aws_sdk_connect::Client,
    instance_id: String,
}

#[cfg(feature = "connect")]
impl ConnectContactRecords {
    pub fn new(client: aws_sdk_connect::Client, instance_id: impl Into<String>) -> Self {
        Self {
            client,
            instance_id: instance_id.into(),
        }
    }
}

#[cfg(feature = "connect")]
#[async_trait]
impl ContactRecords for ConnectContactRecords {
    async fn redact(&self, contact: &ConnectContact) -> Result<(), ContactRecordsError> {
        use aws_sdk_connect::types::ContactField;
        let deleted = self
            .client
            .delete_contact_data()
            .instance_id(&self.instance_id)
            .contact_id(&contact.id)
            .contact_fields(ContactField::CustomerEndpoint)
            .send()
            .await;
        if let Err(error) = deleted {
            records_error(error)?;
        }
        if contact.kind == ContactKindInConnect::Chat {
            let mut blank = self
                .client
                .update_contact_attributes()
                .instance_id(&self.instance_id)
                .initial_contact_id(&contact.id);
            for name in CHAT_PERSONAL_ATTRIBUTES {
                blank = blank.attributes(name, "");
            }
            if let Err(error) = blank.send().await {
                records_error(error)?;
            }
        }
        Ok(())
    }
}

/// What a failed Connect call means for the redaction: done (the contact is gone), later, or
/// never.
#[cfg(feature = "connect")]
fn records_error<E: aws_sdk_connect::error::ProvideErrorMetadata + std::error::Error>(
    error: aws_sdk_connect::error::SdkError<E, aws_sdk_connect::config::http::HttpResponse>,
) -> Result<(), ContactRecordsError> {
    use crate::ports::connect_api::{ConnectFailure, classify};
    match classify(error) {
        // Gone from Connect (older than its 24 months, or never stored): nothing to redact.
        ConnectFailure::NotFound => Ok(()),
        ConnectFailure::Later(detail) => Err(ContactRecordsError::Unavailable(detail)),
        // A contact still in progress cannot be redacted yet.
        ConnectFailure::Refused { code, detail } if code == "InvalidRequestException" => {
            Err(ContactRecordsError::Unavailable(detail))
        }
        ConnectFailure::Refused { detail, .. } => Err(ContactRecordsError::Refused(detail)),
        ConnectFailure::Denied => Err(ContactRecordsError::Refused("access denied".into())),
    }
}
