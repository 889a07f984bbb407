//! connect-records: the sample stream events through the handler, and the Connect adapter
//! through the real SDK against a local stand-in of Connect's API.

use aws_lambda_events::event::dynamodb::Event;
use connect_records::{Ports, handle, redact};
use serde_json::json;
use servicekanal_shared::ports::contact_records::{
    ConnectContact, ConnectContactRecords, ContactKindInConnect, ContactRecords,
    ContactRecordsError, RecordedRedactions,
};
use servicekanal_testing::connect::{ConnectStandIn, INSTANCE_ID, connect_error};
use std::sync::Arc;

const VOICE_CONTACT: &str = "7d3e9b1a-4c2f-4e8d-b6a5-0f1e2d3c4b5a";
const CHAT_CONTACT: &str = "2f6c3c0e-5a3b-4d1e-9c61-7b2f0a9d4e11";

fn call(id: &str) -> ConnectContact {
    ConnectContact {
        id: id.into(),
        kind: ContactKindInConnect::Call,
    }
}

fn chat(id: &str) -> ConnectContact {
    ConnectContact {
        id: id.into(),
        kind: ContactKindInConnect::Chat,
    }
}

fn sample(path: &str) -> Event {
    let text = std::fs::read_to_string(format!(
        "{}/../../events/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn redacted_by(path: &str) -> Vec<String> {
    let records = Arc::new(RecordedRedactions::default());
    let ports = Ports {
        records: records.clone(),
    };
    let response = handle(sample(path), &ports).await;
    assert!(response.batch_item_failures.is_empty(), "{path}");
    records.redacted()
}

#[tokio::test]
async fn a_callback_done_expired_or_erased_and_an_erased_chat_are_redacted_in_connect() {
    assert_eq!(
        redacted_by("connect-records/callback-done.json").await,
        [VOICE_CONTACT]
    );
    assert_eq!(
        redacted_by("connect-records/callback-expired.json")
            .await
            .len(),
        1
    );
    assert_eq!(
        redacted_by("connect-records/chat-erased.json").await,
        [CHAT_CONTACT]
    );
}

#[tokio::test]
async fn other_changes_redact_nothing() {
    // A conversation's messages and statistics: no Connect contact in them.
    assert!(
        redacted_by("stats-export/whatsapp-conversation.json")
            .await
            .is_empty()
    );
    // A callback request written again while still open redacts nothing.
    let mut event = sample("connect-records/callback-done.json");
    let record = &mut event.records[0];
    record.change.new_image = record.change.old_image.clone();
    let records = Arc::new(RecordedRedactions::default());
    redact(
        &event,
        &Ports {
            records: records.clone(),
        },
    )
    .await;
    assert!(records.redacted().is_empty());
}

#[tokio::test]
async fn delete_contact_data_asks_connect_to_remove_the_customer_endpoint() {
    let connect = ConnectStandIn::start().await;
    let (client, _) = connect.clients();
    let records = ConnectContactRecords::new(client, INSTANCE_ID);
    records.redact(&call(VOICE_CONTACT)).await.unwrap();
    // A call carries no attributes of ours.
    assert!(connect.calls_to("/contact/attributes").await.is_empty());
    let calls = connect
        .calls_to(&format!("/contact/delete/{INSTANCE_ID}/{VOICE_CONTACT}"))
        .await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(
        calls[0].body,
        json!({ "ContactFields": ["CUSTOMER_ENDPOINT"] })
    );
}

#[tokio::test]
async fn a_contact_connect_no_longer_knows_is_done_and_throttling_is_retried() {
    let connect = ConnectStandIn::start().await;
    let (client, _) = connect.clients();
    let records = ConnectContactRecords::new(client, INSTANCE_ID);
    let route = format!("/contact/delete/{INSTANCE_ID}/{VOICE_CONTACT}");
    connect
        .mount_first(
            ("POST", &route),
            connect_error(404, "ResourceNotFoundException", "Contact not found"),
            1,
        )
        .await;
    records.redact(&call(VOICE_CONTACT)).await.unwrap();

    connect
        .mount_first(
            ("POST", &route),
            connect_error(429, "ThrottlingException", "Rate exceeded"),
            2,
        )
        .await;
    records.redact(&call(VOICE_CONTACT)).await.unwrap();
    // 1 (not found) + 2 throttled + 1 that went through.
    assert_eq!(connect.calls_to(&route).await.len(), 4);
}

#[tokio::test]
async fn a_contact_still_in_progress_fails_the_batch_from_its_record_and_a_retry_redacts_it() {
    let connect = ConnectStandIn::start().await;
    let (client, _) = connect.clients();
    let ports = Ports {
        records: Arc::new(ConnectContactRecords::new(client, INSTANCE_ID)),
    };
    let route = format!("/contact/delete/{INSTANCE_ID}/{CHAT_CONTACT}");
    connect
        .mount_first(
            ("POST", &route),
            connect_error(400, "InvalidRequestException", "Contact is not terminated"),
            1,
        )
        .await;
    let event = sample("connect-records/chat-erased.json");
    let response = handle(event.clone(), &ports).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier,
        event.records[0].change.sequence_number
    );
    let retried = redact(&event, &ports).await;
    assert_eq!(retried.contacts, [CHAT_CONTACT]);
    // A chat's attributes naming the customer are blanked too.
    let blanked = connect.calls_to("/contact/attributes").await;
    assert_eq!(blanked.len(), 1);
    assert_eq!(blanked[0].body["InitialContactId"], CHAT_CONTACT);
    assert_eq!(
        blanked[0].body["Attributes"],
        json!({ "customerRef": "", "conversation": "" })
    );

    let refused = ConnectContactRecords::new(connect.clients().0, INSTANCE_ID);
    connect
        .mount_first(
            ("POST", &route),
            connect_error(403, "AccessDeniedException", "not authorized"),
            1,
        )
        .await;
    assert!(matches!(
        refused.redact(&chat(CHAT_CONTACT)).await,
        Err(ContactRecordsError::Refused(_))
    ));
}
