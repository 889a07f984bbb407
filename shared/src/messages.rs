//! Messages between the functions, and the bookkeeping every function that stores WhatsApp
//! messages shares: deterministic ids, delivery markers, status updates.

use crate::domain::{DeliveryMarker, DeliveryStatus, Message};
use crate::keys::{ItemKey, Pseudonym, Pseudonymizer};
use crate::retention::RetentionClass;
use crate::store::{Record, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ulid::Ulid;

/// The inbound queue's message: which stored message Lisa should read. No personal data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundNotice {
    pub message: ItemKey,
    pub received_at: DateTime<Utc>,
}

/// A message's id, derived from its WhatsApp id and time, so a redelivery maps to the same
/// stored item instead of a new one.
pub fn message_id_for(wamid: &str, at: DateTime<Utc>) -> Ulid {
    let digest = Sha256::digest(wamid.as_bytes());
    let mut random = [0u8; 16];
    random.copy_from_slice(&digest[..16]);
    Ulid::from_parts(
        at.timestamp_millis().max(0) as u64,
        u128::from_be_bytes(random),
    )
}

/// How far a delivery status has come; statuses may arrive out of order and never go back.
fn rank(status: DeliveryStatus) -> u8 {
    match status {
        DeliveryStatus::Received | DeliveryStatus::Accepted => 0,
        DeliveryStatus::Sent => 1,
        DeliveryStatus::Delivered => 2,
        DeliveryStatus::Read => 3,
        DeliveryStatus::Failed => 4,
    }
}

/// Parses a Cloud API status name.
pub fn parse_status(status: &str) -> Option<DeliveryStatus> {
    match status {
        "sent" => Some(DeliveryStatus::Sent),
        "delivered" => Some(DeliveryStatus::Delivered),
        "read" => Some(DeliveryStatus::Read),
        "failed" => Some(DeliveryStatus::Failed),
        _ => None,
    }
}

/// Stores a message we sent, and the marker that leads its statuses back to it.
pub async fn record_outbound(
    store: &dyn Store,
    pseudonymizer: &Pseudonymizer,
    contact: &Pseudonym,
    message: &Message,
    class: RetentionClass,
) -> Result<ItemKey, StoreError> {
    let key = ItemKey::message(contact, message.id);
    store
        .create(&Record::new(key.clone(), message, class, message.at)?)
        .await?;
    if let Some(wamid) = &message.wamid {
        let marker = DeliveryMarker {
            first_seen_at: message.at,
            message: key.clone(),
            queued: true,
        };
        let marker_key = ItemKey::delivery_marker(&pseudonymizer.delivery(wamid));
        store
            .create(&Record::new(marker_key, &marker, class, message.at)?)
            .await?;
    }
    Ok(key)
}

/// What became of a status update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusOutcome {
    Updated,
    /// Older than what is stored (statuses arrive out of order).
    Stale,
    /// No stored message with this WhatsApp id (never ours, or already deleted).
    Unknown,
}

/// Applies a delivery status to the stored message it is about.
pub async fn apply_status(
    store: &dyn Store,
    pseudonymizer: &Pseudonymizer,
    wamid: &str,
    status: DeliveryStatus,
    error_code: Option<i64>,
) -> Result<StatusOutcome, StoreError> {
    let marker_key = ItemKey::delivery_marker(&pseudonymizer.delivery(wamid));
    let Some(marker) = store.get(&marker_key).await? else {
        return Ok(StatusOutcome::Unknown);
    };
    let marker: DeliveryMarker = marker.body()?;
    // Optimistic locking: two statuses for one message may race; the loser re-reads.
    for _ in 0..5 {
        let Some(mut record) = store.get(&marker.message).await? else {
            return Ok(StatusOutcome::Unknown);
        };
        let mut message: Message = record.body()?;
        if rank(status) <= rank(message.delivery) {
            return Ok(StatusOutcome::Stale);
        }
        message.delivery = status;
        message.error_code = error_code.or(message.error_code);
        record.set_body(&message)?;
        match store.update(&record).await {
            Ok(_) => return Ok(StatusOutcome::Updated),
            Err(StoreError::VersionConflict { .. }) => continue,
            Err(StoreError::NotFound(_)) => return Ok(StatusOutcome::Unknown),
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Backend("status update kept conflicting".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stable_per_wamid() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(message_id_for("wamid.A", at), message_id_for("wamid.A", at));
        assert_ne!(message_id_for("wamid.A", at), message_id_for("wamid.B", at));
        assert_eq!(
            message_id_for("wamid.A", at).timestamp_ms(),
            1_800_000_000_000
        );
    }

    #[test]
    fn statuses_only_move_forward() {
        assert!(rank(DeliveryStatus::Read) > rank(DeliveryStatus::Delivered));
        assert!(rank(DeliveryStatus::Failed) > rank(DeliveryStatus::Read));
        assert_eq!(parse_status("delivered"), Some(DeliveryStatus::Delivered));
        assert_eq!(parse_status("deleted"), None);
    }
}
