//! stats-export against moto: real stream records read from moto's DynamoDB Streams through
//! the SDK, Parquet written to moto's S3 and read back as an analyst would.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use chrono::Duration;
use serde_json::Value;
use servicekanal_shared::channels::whatsapp::OutboundContent;
use servicekanal_shared::domain::keys::{ItemKey, Pseudonymizer};
use servicekanal_shared::domain::{
    Actor, CallbackRequest, CallbackStatus, Channel, Conversation, ConversationMode,
    ConversationState, DeliveryStatus, Direction, EndReason, Message, MessageContent, MessageFacts,
    MessageType, Pricing,
};
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::Clock;
use servicekanal_shared::ports::objects::ObjectStore;
use servicekanal_shared::ports::objects::s3::S3Bucket;
use servicekanal_shared::ports::store::Record;
use servicekanal_shared::stats::Table;
use servicekanal_testing::harness::{Harness, dynamodb};
use servicekanal_testing::{moto_bucket, moto_config, parquet_rows};
use stats_export::{Ports, handle};
use std::sync::Arc;
use ulid::Ulid;

const PHONE: &str = "4917612345678";
const TEXT: &str = "Ihr Tarif Max 20 kostet 29,99 Euro";

async fn ports() -> Ports {
    let config = moto_config().await;
    let (client, bucket) = moto_bucket(&config).await;
    Ports {
        objects: Arc::new(S3Bucket::new(client, bucket)),
    }
}

/// Writes a small history through the DynamoDB adapter: a bot reply, a conversation that
/// closes, a callback made and deleted, and a bot message the sweeper removes at its deadline.
async fn history(h: &Harness) -> usize {
    let contact = Pseudonymizer::new(b"stats-export-test-pseudonym-key-0001".to_vec())
        .unwrap()
        .contact(PHONE)
        .unwrap();
    // moto stamps stream records with its own time: the clock starts there.
    let now = servicekanal_testing::moto_now().await;
    h.clock.set(now);
    let conversation = Conversation::start(Ulid::new(), Channel::Whatsapp, now);
    let reply = Message {
        id: Ulid::new(),
        conversation_id: Some(conversation.id),
        wamid: Some("wamid.HBgNNDkxNzYxMjM0NTY3OBUCABIYFjNFQjBGRUI1".into()),
        direction: Direction::Outbound,
        actor: Actor::Bot,
        message_type: MessageType::Text,
        content: MessageContent::Outbound(OutboundContent::Text { body: TEXT.into() }),
        at: now,
        // WhatsApp reported it sent, with its billing: counted now.
        delivery: DeliveryStatus::Sent,
        error_code: None,
        handling: None,
        facts: Some(MessageFacts {
            mode: ConversationMode::Bot,
            topic: Some("tariffs".into()),
            response_seconds: Some(1),
            understood: None,
            sent_to_review: false,
        }),
        pricing: Some(Pricing {
            category: Some("service".into()),
            kind: Some("free_customer_service".into()),
        }),
    };
    let message_key = ItemKey::message(&contact, reply.id);
    h.store
        // Sent eight days ago: past its deadline, so deleting it now is the sweeper's work.
        .create(
            &Record::new(
                message_key.clone(),
                &reply,
                RetentionClass::Bot7d,
                now - Duration::days(8),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let conversation_key = ItemKey::conversation(&contact, conversation.id);
    h.store
        .create(
            &Record::new(
                conversation_key.clone(),
                &conversation,
                RetentionClass::Bot7d,
                now,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let mut record = h.store.get(&conversation_key).await.unwrap().unwrap();
    let mut closed = conversation.clone();
    closed.state = ConversationState::Closed;
    closed.ended_at = Some(now + Duration::minutes(4));
    closed.end_reason = Some(EndReason::Goodbye);
    closed.customer_messages = 3;
    closed.bot_messages = 3;
    record.set_body(&closed).unwrap();
    h.store.update(&record).await.unwrap();

    let request = CallbackRequest {
        connect_contact_id: "5fb2a0a4-ecd4-4f0f-9f1e-4a2f1ad5c1d7".into(),
        reference: "RB-4KXQ7M".into(),
        phone: "+4930111222333".into(),
        name: Some("Hans Anrufer".into()),
        topic: "tariff-advice".into(),
        window_start: now + Duration::hours(24),
        window_end: now + Duration::hours(26),
        requested_at: now,
        status: CallbackStatus::Open,
        done_at: None,
    };
    let request_key = ItemKey::callback_request(&request.connect_contact_id);
    h.store
        .create(
            &Record::new(
                request_key.clone(),
                &request,
                RetentionClass::Callback3m,
                now,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    h.clock.advance(Duration::hours(5));
    let mut record = h.store.get(&request_key).await.unwrap().unwrap();
    let mut done = request.clone();
    done.status = CallbackStatus::Done;
    done.done_at = Some(h.clock.now());
    record.set_body(&done).unwrap();
    h.store.update(&record).await.unwrap();
    h.store.delete(&request_key).await.unwrap();

    h.store.delete(&message_key).await.unwrap();
    // put, put, modify, put, modify, remove, remove
    7
}

async fn rows(objects: &dyn ObjectStore, table: Table) -> Vec<Value> {
    let mut rows = Vec::new();
    for key in objects.list(&format!("{table}/")).await.unwrap() {
        rows.extend(parquet_rows(objects.get(&key).await.unwrap().unwrap()));
    }
    rows
}

fn event(records: Vec<EventRecord>) -> Event {
    let mut event = Event::default();
    event.records = records;
    event
}

#[tokio::test]
async fn stream_records_from_dynamodb_become_parquet_rows_in_s3_once() {
    let mut h = dynamodb().await;
    let expected = history(&h).await;
    let records = h.drain_feed(expected).await;
    assert_eq!(records.len(), expected);
    let ports = ports().await;

    let response = handle(event(records.clone()), &ports).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let objects = ports.objects.list("").await.unwrap();
    let tables_with_rows = Table::ALL
        .iter()
        .filter(|table| objects.iter().any(|k| k.starts_with(&format!("{table}/"))))
        .count();
    assert_eq!(
        objects.len(),
        tables_with_rows,
        "one object per table: {objects:?}"
    );
    let first = records[0].change.sequence_number.clone().unwrap();
    let day = records[0]
        .change
        .approximate_creation_date_time
        .format("%Y-%m-%d");
    assert!(
        objects
            .iter()
            .all(|k| k.ends_with(&format!("/dt={day}/{first}.parquet")))
    );

    let messages = rows(ports.objects.as_ref(), Table::MessageEvents).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["actor"], "bot");
    assert_eq!(messages[0]["topic"], "tariffs");
    assert_eq!(messages[0]["response_seconds"], 1);
    assert_eq!(messages[0]["pricing_category"], "service");
    assert_eq!(messages[0]["pricing_type"], "free_customer_service");
    let conversations = rows(ports.objects.as_ref(), Table::Conversations).await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0]["end_reason"], "goodbye");
    assert_eq!(conversations[0]["duration_seconds"], 240);
    let callbacks = rows(ports.objects.as_ref(), Table::Callbacks).await;
    assert_eq!(callbacks.len(), 1);
    assert_eq!(callbacks[0]["outcome"], "completed");
    assert_eq!(callbacks[0]["hours_to_outcome"], 5.0);
    let mut deletions: Vec<(String, String, i64)> = rows(ports.objects.as_ref(), Table::Deletions)
        .await
        .iter()
        .map(|r| {
            (
                r["retention_class"].as_str().unwrap().into(),
                r["reason"].as_str().unwrap().into(),
                r["items"].as_i64().unwrap(),
            )
        })
        .collect();
    deletions.sort();
    assert_eq!(
        deletions,
        [
            ("bot-7d".into(), "sweeper".into(), 1),
            ("callback-3m".into(), "purpose_fulfilled".into(), 1)
        ]
    );

    // The stream delivers the batch again (a retry): the same objects, no extra rows.
    let response = handle(event(records), &ports).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(ports.objects.list("").await.unwrap(), objects);
    assert_eq!(
        rows(ports.objects.as_ref(), Table::MessageEvents)
            .await
            .len(),
        1
    );

    // Nothing personal reached S3: not the number, the name, the text, the key or the wamid.
    let mut everything = String::new();
    for table in Table::ALL {
        for row in rows(ports.objects.as_ref(), table).await {
            everything.push_str(&row.to_string());
        }
    }
    for personal in [
        PHONE,
        "+4930111222333",
        "Hans Anrufer",
        TEXT,
        "RB-4KXQ7M",
        "wamid",
        "C#",
    ] {
        assert!(!everything.contains(personal), "{personal}");
    }
}

#[tokio::test]
async fn a_record_that_cannot_be_read_is_reported_and_the_rows_before_it_are_kept() {
    let mut h = dynamodb().await;
    let expected = history(&h).await;
    let records = h.drain_feed(expected).await;
    let ports = ports().await;

    // Someone else's item in the table (no kind, no retention): a poison record.
    let mut poison = records[1].clone();
    poison.change.new_image = serde_dynamo::Item::from(std::collections::HashMap::from([
        (
            "pk".to_owned(),
            serde_dynamo::AttributeValue::S("OTHER#1".into()),
        ),
        ("sk".to_owned(), serde_dynamo::AttributeValue::S("X".into())),
    ]));
    let batch = vec![records[0].clone(), poison.clone(), records[2].clone()];
    let response = handle(event(batch), &ports).await.unwrap();
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier,
        poison.change.sequence_number
    );
    // The first record's row is stored; the retry (starting at the poison) adds no row twice.
    assert_eq!(
        rows(ports.objects.as_ref(), Table::MessageEvents)
            .await
            .len(),
        1
    );
    let retry = handle(event(vec![poison.clone(), records[2].clone()]), &ports)
        .await
        .unwrap();
    assert_eq!(
        retry.batch_item_failures[0].item_identifier,
        poison.change.sequence_number
    );
    assert_eq!(
        rows(ports.objects.as_ref(), Table::MessageEvents)
            .await
            .len(),
        1
    );
    assert_eq!(
        ports.objects.list("").await.unwrap().len(),
        1,
        "the first record's message event, no empty files"
    );
}
