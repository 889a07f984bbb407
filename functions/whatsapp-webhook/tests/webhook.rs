//! Every sample event through the real handler, with the embedded store, the in-process FIFO
//! queue and a controllable clock; plus signatures, duplicates, failures and retries.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use lambda_http::Body;
use servicekanal_shared::clock::{Clock, ManualClock};
use servicekanal_shared::domain::{
    Actor, Contact, DeliveryStatus, Direction, Message, MessageContent, MessageType,
};
use servicekanal_shared::keys::{ItemKey, MESSAGE_PREFIX, Pseudonymizer};
use servicekanal_shared::mask::Secret;
use servicekanal_shared::messages::{self, BotWork};
use servicekanal_shared::queue::memory::InProcessQueue;
use servicekanal_shared::queue::{OutgoingMessage, Queue, QueueError, dedup_id_of, group_of};
use servicekanal_shared::retention::RetentionClass;
use servicekanal_shared::store::embedded::EmbeddedStore;
use servicekanal_shared::store::{ChangeFeed, PageRequest, Record, Store};
use servicekanal_shared::test_support::{FaultyStore, LogCapture};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use whatsapp_webhook::{DEFAULT_MAX_BODY_BYTES, Ports, WebhookConfig, handle};

const APP_SECRET: &str = "servicekanal-local-app-secret";
const VERIFY_TOKEN: &str = "servicekanal-local-verify-token";
const CUSTOMER: &str = "4917612345678";
const T0: i64 = 1_795_255_200;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/whatsapp-webhook")
}

fn event(name: &str) -> lambda_http::Request {
    let json = std::fs::read_to_string(events_dir().join(format!("{name}.json"))).unwrap();
    lambda_http::request::from_str(&json).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn pseudonymizer() -> Pseudonymizer {
    Pseudonymizer::new(*b"webhook-test-pseudonym-key-0123456789").unwrap()
}

struct Harness {
    ports: Ports,
    store: Arc<EmbeddedStore>,
    queue: Arc<InProcessQueue>,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

fn harness_with(queue: Option<Arc<dyn Queue>>, store: Option<Arc<dyn Store>>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(DateTime::from_timestamp(T0 + 30, 0).unwrap());
    let embedded = Arc::new(EmbeddedStore::open(dir.path(), Arc::new(clock.clone())).unwrap());
    let in_process = Arc::new(InProcessQueue::new("inbound.fifo", Arc::new(clock.clone())));
    let ports = Ports {
        store: store.unwrap_or_else(|| embedded.clone()),
        inbound_queue: queue.unwrap_or_else(|| in_process.clone()),
        clock: Arc::new(clock.clone()),
        pseudonymizer: pseudonymizer(),
        config: WebhookConfig {
            app_secret: Secret(APP_SECRET.into()),
            verify_token: Secret(VERIFY_TOKEN.into()),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        },
    };
    Harness {
        ports,
        store: embedded,
        queue: in_process,
        clock,
        _dir: dir,
    }
}

fn harness() -> Harness {
    harness_with(None, None)
}

fn body_text(body: &Body) -> String {
    String::from_utf8_lossy(body.as_ref()).into_owned()
}

impl Harness {
    async fn post(&self, name: &str) -> (u16, String) {
        let response = handle(event(name), &self.ports).await;
        (response.status().as_u16(), body_text(response.body()))
    }

    async fn messages_of(&self, wa_id: &str) -> Vec<Message> {
        let pk = pseudonymizer().contact(wa_id).unwrap().partition();
        self.store
            .query(&pk, MESSAGE_PREFIX, PageRequest::first(100))
            .await
            .unwrap()
            .items
            .iter()
            .map(|r| r.body().unwrap())
            .collect()
    }

    async fn profile_of(&self, wa_id: &str) -> Option<Record> {
        let contact = pseudonymizer().contact(wa_id).unwrap();
        self.store.get(&ItemKey::profile(&contact)).await.unwrap()
    }

    async fn drain_queue(&self) -> Vec<aws_lambda_events::event::sqs::SqsMessage> {
        let messages = self.queue.receive(100).await.unwrap();
        for m in &messages {
            self.queue
                .acknowledge(m.receipt_handle.as_deref().unwrap())
                .await
                .unwrap();
        }
        messages
    }
}

/// Each sample: the answer, and how many messages end up stored and queued.
const SAMPLES: &[(&str, u16, usize, Option<MessageType>)] = &[
    ("get-verify", 200, 0, None),
    ("get-verify-wrong-token", 403, 0, None),
    ("post-text", 200, 1, Some(MessageType::Text)),
    (
        "post-interactive-button-reply",
        200,
        1,
        Some(MessageType::Interactive),
    ),
    (
        "post-interactive-list-reply",
        200,
        1,
        Some(MessageType::Interactive),
    ),
    ("post-button", 200, 1, Some(MessageType::Button)),
    ("post-image", 200, 1, Some(MessageType::Image)),
    ("post-audio", 200, 1, Some(MessageType::Audio)),
    ("post-video", 200, 1, Some(MessageType::Video)),
    ("post-document", 200, 1, Some(MessageType::Document)),
    ("post-sticker", 200, 1, Some(MessageType::Sticker)),
    ("post-location", 200, 1, Some(MessageType::Location)),
    ("post-contacts", 200, 1, Some(MessageType::Contacts)),
    ("post-reaction", 200, 1, Some(MessageType::Reaction)),
    ("post-system", 200, 1, Some(MessageType::System)),
    ("post-unsupported", 200, 1, Some(MessageType::Unsupported)),
    ("post-statuses", 200, 0, None),
    ("post-status-failed", 200, 0, None),
    ("post-errors", 200, 0, None),
    ("post-batch", 200, 3, Some(MessageType::Text)),
    ("post-unsigned", 401, 0, None),
    ("post-wrong-signature", 401, 0, None),
    ("post-not-json", 200, 0, None),
];

#[test]
fn every_sample_event_has_an_expectation() {
    let mut files: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_owned()
        })
        .collect();
    files.sort();
    let mut covered: Vec<String> = SAMPLES.iter().map(|s| s.0.to_owned()).collect();
    covered.sort();
    assert_eq!(files, covered);
}

#[tokio::test]
async fn every_sample_event_gets_its_answer_and_stores_and_queues_what_it_carries() {
    for &(name, status, count, kind) in SAMPLES {
        let h = harness();
        let (got, _) = h.post(name).await;
        assert_eq!(got, status, "{name}");
        let queued = h.drain_queue().await;
        assert_eq!(queued.len(), count, "{name}: queued");
        let mut stored = h.messages_of(CUSTOMER).await;
        stored.extend(h.messages_of("4915112345678").await);
        assert_eq!(stored.len(), count, "{name}: stored");
        for message in &stored {
            assert_eq!(Some(message.message_type), kind, "{name}");
            assert_eq!(message.direction, Direction::Inbound);
            assert_eq!(message.actor, Actor::Customer);
        }
        for q in &queued {
            let Ok(BotWork::Inbound(notice)) = serde_json::from_str(q.body.as_deref().unwrap())
            else {
                panic!("the webhook queues inbound work");
            };
            let record = h
                .store
                .get(&notice.message)
                .await
                .unwrap()
                .expect("notice points to a stored message");
            let message: Message = record.body().unwrap();
            assert!(message.wamid.is_some());
            assert_eq!(
                dedup_id_of(q),
                Some(record.key.sk.as_str()),
                "{name}: deduplicated by the message key, derived from the wamid"
            );
            assert_eq!(
                group_of(q),
                Some(notice.message.pk.trim_start_matches("C#")),
                "{name}: group is the pseudonym"
            );
            assert!(
                !q.body.as_deref().unwrap().contains(CUSTOMER),
                "queue bodies hold no phone number"
            );
        }
    }
}

#[tokio::test]
async fn verification_answers_the_challenge_as_plain_text() {
    let h = harness();
    let response = handle(event("get-verify"), &h.ports).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_text(response.body()), "1158201444");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
}

#[tokio::test]
async fn message_contents_are_kept_without_downloading_media() {
    let h = harness();
    h.post("post-text").await;
    h.post("post-interactive-list-reply").await;
    h.post("post-document").await;
    h.post("post-location").await;
    let contents: Vec<MessageContent> = h
        .messages_of(CUSTOMER)
        .await
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(
        contents,
        [
            MessageContent::Text {
                body: "Hallo, meine Rechnung ist viel zu hoch!".into()
            },
            MessageContent::Choice {
                id: "topic-roaming".into(),
                title: "Roaming".into()
            },
            MessageContent::Media {
                media_id: "188473629104515".into(),
                mime_type: Some("application/pdf".into()),
                caption: Some("Diese hier".into()),
            },
            MessageContent::Location {
                latitude: 52.520008,
                longitude: 13.404954,
                name: Some("Alexanderplatz".into())
            },
        ]
    );
}

#[tokio::test]
async fn a_new_contact_and_its_message_are_kept_seven_days() {
    let h = harness();
    h.post("post-text").await;
    let contact = pseudonymizer().contact(CUSTOMER).unwrap();
    let profile = h.profile_of(CUSTOMER).await.unwrap();
    let sent_at = DateTime::from_timestamp(T0 + 1, 0).unwrap();
    assert_eq!(profile.retention, RetentionClass::Bot7d);
    assert_eq!(profile.expires_at, sent_at + Duration::days(7));
    let body: Contact = profile.body().unwrap();
    assert_eq!(body.profile_name.as_deref(), Some("Erika Mustermann"));
    assert_eq!(body.last_contact_at, sent_at);
    let message = &h
        .store
        .query(&contact.partition(), MESSAGE_PREFIX, PageRequest::first(5))
        .await
        .unwrap()
        .items[0];
    assert_eq!(message.retention, RetentionClass::Bot7d);
    assert_eq!(message.expires_at, sent_at + Duration::days(7));
    assert!(!profile.key.pk.contains(CUSTOMER));
}

#[tokio::test]
async fn a_contact_in_the_service_channel_keeps_its_class_and_the_deadline_slides() {
    let h = harness();
    let contact = pseudonymizer().contact(CUSTOMER).unwrap();
    let earlier = DateTime::from_timestamp(T0 - 86_400 * 30, 0).unwrap();
    let profile = Contact::new(CUSTOMER, Some("Erika".into()), earlier);
    h.store
        .create(
            &Record::new(
                ItemKey::profile(&contact),
                &profile,
                RetentionClass::Service13m,
                earlier,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    h.post("post-text").await;
    let sent_at = DateTime::from_timestamp(T0 + 1, 0).unwrap();
    let profile = h.profile_of(CUSTOMER).await.unwrap();
    assert_eq!(profile.retention, RetentionClass::Service13m);
    assert_eq!(
        profile.expires_at,
        RetentionClass::Service13m.deadline(sent_at)
    );
    assert_eq!(h.messages_of(CUSTOMER).await.len(), 1);
    let message = &h
        .store
        .query(&contact.partition(), MESSAGE_PREFIX, PageRequest::first(5))
        .await
        .unwrap()
        .items[0];
    assert_eq!(message.retention, RetentionClass::Service13m);
}

#[tokio::test]
async fn a_redelivery_is_stored_and_queued_once_even_a_day_later() {
    let h = harness();
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.post("post-text").await.0, 200);
    h.clock.advance(Duration::days(1));
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.drain_queue().await.len(), 1);
    assert_eq!(h.messages_of(CUSTOMER).await.len(), 1);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_message_store_and_queue_it_once() {
    let h = harness();
    let (a, b, c) = tokio::join!(
        h.post("post-batch"),
        h.post("post-batch"),
        h.post("post-batch")
    );
    assert_eq!((a.0, b.0, c.0), (200, 200, 200));
    assert_eq!(h.drain_queue().await.len(), 3);
    assert_eq!(h.messages_of(CUSTOMER).await.len(), 2);
}

/// A queue that fails its first `failures` sends, like an SQS outage.
struct FlakyQueue {
    inner: Arc<InProcessQueue>,
    failures: AtomicU32,
}

#[async_trait]
impl Queue for FlakyQueue {
    async fn send(&self, message: OutgoingMessage) -> Result<(), QueueError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(1))
            .is_ok()
        {
            return Err(QueueError::Backend("ServiceUnavailable".into()));
        }
        self.inner.send(message).await
    }
    async fn receive(
        &self,
        max: usize,
    ) -> Result<Vec<aws_lambda_events::event::sqs::SqsMessage>, QueueError> {
        self.inner.receive(max).await
    }
    async fn acknowledge(&self, handle: &str) -> Result<(), QueueError> {
        self.inner.acknowledge(handle).await
    }
    async fn release(&self, handle: &str) -> Result<(), QueueError> {
        self.inner.release(handle).await
    }
}

#[tokio::test]
async fn a_queue_failure_answers_500_and_the_retry_completes_without_duplicates() {
    let clock = ManualClock::new(DateTime::from_timestamp(T0 + 30, 0).unwrap());
    let inner = Arc::new(InProcessQueue::new("inbound.fifo", Arc::new(clock)));
    let flaky = Arc::new(FlakyQueue {
        inner: inner.clone(),
        failures: AtomicU32::new(1),
    });
    let mut h = harness_with(Some(flaky), None);
    h.queue = inner;
    assert_eq!(h.post("post-text").await.0, 500, "WhatsApp must retry");
    assert_eq!(h.drain_queue().await.len(), 0);
    // Ten minutes later, beyond SQS's deduplication window, WhatsApp retries.
    h.clock.advance(Duration::minutes(10));
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.drain_queue().await.len(), 1);
    assert_eq!(h.messages_of(CUSTOMER).await.len(), 1);
}

#[tokio::test]
async fn a_store_failure_answers_500_queues_nothing_and_the_retry_completes() {
    let base = harness();
    // Every message write fails while `down` is set.
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let is_down = down.clone();
    let flaky = Arc::new(FaultyStore::new(base.store.clone(), move |_, key| {
        is_down.load(Ordering::SeqCst) && key.sk.starts_with(MESSAGE_PREFIX)
    }));
    let mut h = base;
    h.ports.store = flaky.clone();
    assert_eq!(h.post("post-text").await.0, 500);
    assert_eq!(
        h.drain_queue().await.len(),
        0,
        "nothing queued for a message not stored"
    );
    down.store(false, Ordering::SeqCst);
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.drain_queue().await.len(), 1);
    assert_eq!(h.messages_of(CUSTOMER).await.len(), 1);
}

#[tokio::test]
async fn statuses_update_the_stored_outbound_message_and_never_go_back() {
    let h = harness();
    let contact = pseudonymizer().contact(CUSTOMER).unwrap();
    let at = DateTime::from_timestamp(T0, 0).unwrap();
    let outbound = |n: u32| Message {
        id: messages::message_id_for(&format!("out{n}"), at),
        conversation_id: None,
        wamid: Some(format!(
            "wamid.HBgNNDkxNzYxMjM0NTY3OBUCABEYEjBCOUQ{n:06}AA=="
        )),
        direction: Direction::Outbound,
        actor: Actor::Bot,
        message_type: MessageType::Text,
        content: MessageContent::Text {
            body: "Hallo, ich bin Lisa.".into(),
        },
        at,
        delivery: DeliveryStatus::Accepted,
        error_code: None,
        handling: None,
        facts: None,
    };
    let store: &dyn Store = h.store.as_ref();
    let first = messages::record_outbound(
        store,
        &pseudonymizer(),
        &contact,
        &outbound(1),
        RetentionClass::Bot7d,
    )
    .await
    .unwrap();
    let second = messages::record_outbound(
        store,
        &pseudonymizer(),
        &contact,
        &outbound(2),
        RetentionClass::Bot7d,
    )
    .await
    .unwrap();

    assert_eq!(h.post("post-statuses").await.0, 200);
    let read: Message = h.store.get(&first).await.unwrap().unwrap().body().unwrap();
    assert_eq!(
        read.delivery,
        DeliveryStatus::Read,
        "sent, delivered, read: the last wins"
    );

    assert_eq!(
        h.post("post-batch").await.0,
        200,
        "carries a late 'delivered' for the first"
    );
    let still_read: Message = h.store.get(&first).await.unwrap().unwrap().body().unwrap();
    assert_eq!(still_read.delivery, DeliveryStatus::Read);

    assert_eq!(h.post("post-status-failed").await.0, 200);
    let failed: Message = h.store.get(&second).await.unwrap().unwrap().body().unwrap();
    assert_eq!(
        (failed.delivery, failed.error_code),
        (DeliveryStatus::Failed, Some(131047))
    );
}

#[tokio::test]
async fn signature_failures_store_and_queue_nothing() {
    for name in ["post-unsigned", "post-wrong-signature"] {
        let h = harness();
        assert_eq!(h.post(name).await, (401, "invalid signature".to_owned()));
        assert!(h.messages_of(CUSTOMER).await.is_empty());
        assert_eq!(h.queue.depth(), 0);
        assert!(
            h.store.change_feed(None).poll(10).await.unwrap().is_empty(),
            "{name}: no write at all"
        );
    }
    // A body altered after signing does not verify either.
    let h = harness();
    let mut request = event("post-text");
    let tampered = body_text(request.body()).replace("viel zu hoch", "in Ordnung");
    *request.body_mut() = Body::from(tampered);
    assert_eq!(handle(request, &h.ports).await.status(), 401);
}

#[tokio::test]
async fn oversized_bodies_wrong_paths_and_methods_are_refused() {
    let mut h = harness();
    h.ports.config.max_body_bytes = 512;
    assert_eq!(h.post("post-batch").await.0, 413);
    assert_eq!(h.queue.depth(), 0);

    let mut request = event("post-text");
    *request.uri_mut() = "https://example.lambda-url.eu-central-1.on.aws/other"
        .parse()
        .unwrap();
    assert_eq!(handle(request, &h.ports).await.status(), 404);

    let mut request = event("post-text");
    *request.method_mut() = lambda_http::http::Method::PUT;
    let response = handle(request, &h.ports).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
}

#[tokio::test]
async fn logs_hold_no_phone_number_name_or_text() {
    let capture = LogCapture::default();
    let _guard = capture.start();
    let h = harness();
    for &(name, ..) in SAMPLES {
        h.post(name).await;
    }
    let logs = capture.text();
    assert!(
        logs.contains("webhook processed"),
        "logs were captured: {logs}"
    );
    for secret in [
        CUSTOMER,
        "4915112345678",
        "Erika",
        "Mustermann",
        "Max Muster",
        "Rechnung",
        "Guten Morgen",
        APP_SECRET,
        "1701234",
    ] {
        assert!(!logs.contains(secret), "log contains {secret:?}: {logs}");
    }
}

#[tokio::test]
async fn the_clock_is_the_injected_one() {
    let h = harness();
    h.post("post-text").await;
    let profile = h.profile_of(CUSTOMER).await.unwrap();
    h.clock.set(profile.expires_at);
    assert!(
        h.store.get(&profile.key).await.unwrap().is_none(),
        "gone at its deadline"
    );
    assert!(h.clock.now() > Utc::now(), "time was moved, not waited for");
}
