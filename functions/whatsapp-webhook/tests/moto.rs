//! The webhook on its AWS adapters: DynamoDB and an SQS FIFO queue in moto, through the SDK.

use chrono::DateTime;
use servicekanal_shared::domain::keys::{ItemKey, MESSAGE_PREFIX, Pseudonym, Pseudonymizer};
use servicekanal_shared::domain::messages::BotWork;
use servicekanal_shared::domain::{Contact, Message, MessageContent};
use servicekanal_shared::policy::mask::Secret;
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::ManualClock;
use servicekanal_shared::ports::queue::sqs::SqsQueue;
use servicekanal_shared::ports::queue::{Queue, dedup_id_of, group_of};
use servicekanal_shared::ports::store::dynamodb::DynamoStore;
use servicekanal_shared::ports::store::{PageRequest, Record, Store};
use servicekanal_testing::{moto_config, moto_queue, moto_table};
use std::sync::Arc;
use whatsapp_webhook::{DEFAULT_MAX_BODY_BYTES, Ports, WebhookConfig, handle};

fn event(name: &str) -> lambda_http::Request {
    let path = format!(
        "{}/../../events/whatsapp-webhook/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn messages_of(store: &dyn Store, contact: &Pseudonym) -> Vec<Record> {
    store
        .query(&contact.partition(), MESSAGE_PREFIX, PageRequest::first(10))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn a_message_lands_in_dynamodb_and_once_on_the_fifo_queue() {
    let config = moto_config().await;
    let (dynamo, table) = moto_table(&config).await;
    let (sqs, queue_url) = moto_queue(&config, "inbound", true).await;
    let clock = ManualClock::new(DateTime::from_timestamp(1_795_255_230, 0).unwrap());
    let pseudonymizer = Pseudonymizer::new(vec![9u8; 32]).unwrap();
    let store = Arc::new(DynamoStore::new(dynamo, table, Arc::new(clock.clone())));
    let queue = Arc::new(SqsQueue::new(sqs, queue_url));
    let ports = Ports {
        store: store.clone(),
        inbound_queue: queue.clone(),
        clock: Arc::new(clock),
        pseudonymizer: pseudonymizer.clone(),
        config: WebhookConfig {
            app_secret: Secret("servicekanal-local-app-secret".into()),
            verify_token: Secret("servicekanal-local-verify-token".into()),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        },
    };

    let (a, b) = tokio::join!(
        handle(event("post-text"), &ports),
        handle(event("post-text"), &ports)
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(handle(event("post-text"), &ports).await.status(), 200);

    let contact = pseudonymizer.contact("4917612345678").unwrap();
    let profile = store
        .get(&ItemKey::profile(&contact))
        .await
        .unwrap()
        .expect("profile stored");
    assert_eq!(profile.retention, RetentionClass::Bot7d);
    assert_eq!(
        profile.body::<Contact>().unwrap().profile_name.as_deref(),
        Some("Erika Mustermann")
    );
    let messages = messages_of(store.as_ref(), &contact).await;
    assert_eq!(messages.len(), 1);
    let message: Message = messages[0].body().unwrap();
    assert_eq!(
        message.content,
        MessageContent::Text {
            body: "Hallo, meine Rechnung ist viel zu hoch!".into()
        }
    );

    let received = queue.receive(10).await.unwrap();
    assert_eq!(received.len(), 1, "three deliveries, one queue message");
    assert_eq!(group_of(&received[0]), Some(contact.as_str()));
    // Deduplicated by the stored message's key, which follows from the WhatsApp id.
    assert_eq!(dedup_id_of(&received[0]), Some(messages[0].key.sk.as_str()));
    let Ok(BotWork::Inbound(notice)) = serde_json::from_str(received[0].body.as_deref().unwrap())
    else {
        panic!("the webhook queues inbound work");
    };
    assert_eq!(notice.message, messages[0].key);

    // The same customer again: her profile's refresh and the new message go to DynamoDB
    // together, and both arrive.
    queue
        .acknowledge(received[0].receipt_handle.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(handle(event("post-image"), &ports).await.status(), 200);
    let image_sent = DateTime::from_timestamp(1_795_255_205, 0).unwrap();
    let profile = store
        .get(&ItemKey::profile(&contact))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        profile.body::<Contact>().unwrap().last_contact_at,
        image_sent
    );
    assert_eq!(
        profile.expires_at,
        RetentionClass::Bot7d.deadline(image_sent)
    );
    let messages = messages_of(store.as_ref(), &contact).await;
    assert_eq!(messages.len(), 2);
    assert!(
        messages
            .iter()
            .all(|m| m.retention == RetentionClass::Bot7d)
    );
    let received = queue.receive(10).await.unwrap();
    assert_eq!(received.len(), 1, "the image queued once");
}
