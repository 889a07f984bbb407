//! Every sample event through the real handler, with the embedded store, the in-process FIFO
//! queue and a controllable clock; plus signatures, duplicates, failures and retries.

use async_trait::async_trait;
use chrono::{DateTime, Duration};
use lambda_http::Body;
use servicekanal_shared::domain::identity::{Identifier, Identities};
use servicekanal_shared::domain::keys::{ItemKey, MESSAGE_PREFIX, Pseudonym, Pseudonymizer};
use servicekanal_shared::domain::messages::{self, BotWork};
use servicekanal_shared::domain::{
    Actor, Contact, DeliveryMarker, DeliveryStatus, Direction, Message, MessageContent, MessageType,
};
use servicekanal_shared::policy::mask::Secret;
use servicekanal_shared::policy::retention::{self, RetentionClass};
use servicekanal_shared::ports::clock::{Clock, ManualClock};
use servicekanal_shared::ports::queue::memory::InProcessQueue;
use servicekanal_shared::ports::queue::{
    OutgoingMessage, Queue, QueueError, dedup_id_of, group_of,
};
use servicekanal_shared::ports::store::embedded::EmbeddedStore;
use servicekanal_shared::ports::store::faulty::{Injected, StoreFaults};
use servicekanal_shared::ports::store::{ChangeFeed, Hold, PageRequest, Record, Store};
use servicekanal_testing::{FaultyStore, LogCapture};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use whatsapp_webhook::{DEFAULT_MAX_BODY_BYTES, Ports, WebhookConfig, handle};

const APP_SECRET: &str = "servicekanal-local-app-secret";
const VERIFY_TOKEN: &str = "servicekanal-local-verify-token";
const CUSTOMER: &str = "4917612345678";
const ERIKA_USER_ID: &str = "DE.1349120865530274";
const NEW_NUMBER: &str = "4917699999999";
const NEW_USER_ID: &str = "DE.1349120865539911";
/// Lena has a username; WhatsApp withholds her number.
const LENA: &str = "DE.7715320988410042";
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

/// The harness with the store calls `fails(operation, key)` picks failing before they reach
/// the store (`Harness::store` still reads it directly).
fn harness_failing(fails: impl Fn(&str, &ItemKey) -> bool + Send + Sync + 'static) -> Harness {
    let mut h = harness();
    h.ports.store = Arc::new(FaultyStore::new(h.store.clone(), fails));
    h
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
        self.messages_in(&pseudonymizer().contact(wa_id).unwrap())
            .await
    }

    async fn messages_in(&self, contact: &Pseudonym) -> Vec<Message> {
        let pk = contact.partition();
        self.store
            .query(&pk, MESSAGE_PREFIX, PageRequest::first(100))
            .await
            .unwrap()
            .items
            .iter()
            .map(|r| r.body().unwrap())
            .collect()
    }

    /// What Lisa leaves on each of the customer's messages once she has decided on it.
    async fn lisa_takes_the_messages_of(&self, wa_id: &str) {
        let pk = pseudonymizer().contact(wa_id).unwrap().partition();
        let page = self
            .store
            .query(&pk, MESSAGE_PREFIX, PageRequest::first(100))
            .await
            .unwrap();
        for record in page.items {
            servicekanal_testing::lisa_took(self.store.as_ref(), &record.key).await;
        }
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
    ("post-bsuid-with-phone", 200, 1, Some(MessageType::Text)),
    ("post-username-only", 200, 1, Some(MessageType::Text)),
    // Identity changes of someone we never stored: nothing to move, nothing stored.
    ("post-user-changed-number", 200, 0, None),
    ("post-user-changed-user-id", 200, 0, None),
    ("post-status-user-id-only", 200, 0, None),
    ("post-batch-one-unreadable", 200, 2, Some(MessageType::Text)),
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
        stored.extend(h.messages_in(&pseudonymizer().user(LENA).unwrap()).await);
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
            for personal in [CUSTOMER, ERIKA_USER_ID, LENA, "lena.k"] {
                assert!(
                    !q.body.as_deref().unwrap().contains(personal),
                    "queue bodies hold no phone number, user id or username"
                );
            }
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

/// What happens to the contact's profile between the webhook's read of it and its write.
#[derive(Clone, Copy, PartialEq)]
enum Meanwhile {
    /// Lisa hands the contact over: the profile moves to `service-13m`.
    Handover,
    /// The handover, and then the first update of a message fails (the webhook answers 500
    /// and WhatsApp delivers again).
    HandoverThenFailure,
    /// A legal hold is placed on the profile.
    Hold,
}

/// Does what [`Meanwhile`] says just before the webhook's first update of the profile reaches
/// the store.
struct BeforeProfileUpdate {
    what: Meanwhile,
    store: Arc<EmbeddedStore>,
    profile: ItemKey,
    clock: ManualClock,
    done: Arc<std::sync::atomic::AtomicBool>,
    failed: std::sync::atomic::AtomicBool,
}

impl StoreFaults for BeforeProfileUpdate {
    fn before(&self, operation: &'static str, key: &ItemKey) -> Option<Injected> {
        if operation != "update" {
            return None;
        }
        if key == &self.profile && !self.done.swap(true, Ordering::SeqCst) {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    if self.what == Meanwhile::Hold {
                        let hold = Hold {
                            reason: "case 2026-118".into(),
                            placed_at: self.clock.now(),
                        };
                        self.store.place_hold(key, hold).await.unwrap();
                        return;
                    }
                    let mut profile = self.store.get(key).await.unwrap().unwrap();
                    let last_contact = profile.body::<Contact>().unwrap().last_contact_at;
                    profile.retain(RetentionClass::Service13m, last_contact);
                    self.store.update(&profile).await.unwrap();
                })
            });
        }
        let fails = self.what == Meanwhile::HandoverThenFailure
            && key.sk.starts_with(MESSAGE_PREFIX)
            && !self.failed.swap(true, Ordering::SeqCst);
        fails.then_some(Injected::Before)
    }
}

impl Harness {
    /// From now on, `what` happens during the webhook's next write of the customer's
    /// profile; true once it happened.
    fn meanwhile(&mut self, what: Meanwhile) -> Arc<std::sync::atomic::AtomicBool> {
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let faults = BeforeProfileUpdate {
            what,
            store: self.store.clone(),
            profile: ItemKey::profile(&pseudonymizer().contact(CUSTOMER).unwrap()),
            clock: self.clock.clone(),
            done: done.clone(),
            failed: false.into(),
        };
        self.ports.store = Arc::new(FaultyStore::with_faults(self.store.clone(), faults));
        done
    }

    /// The customer's image message (`post-image`) as stored.
    async fn stored_image(&self) -> Record {
        let contact = pseudonymizer().contact(CUSTOMER).unwrap();
        self.store
            .query(&contact.partition(), MESSAGE_PREFIX, PageRequest::first(5))
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|m| m.body::<Message>().unwrap().message_type == MessageType::Image)
            .expect("the image stored")
    }
}

/// The harness after the customer's first message (`post-text`), stored and taken from the
/// queue: she is a known contact.
async fn known_customer() -> Harness {
    let h = harness();
    assert_eq!(h.post("post-text").await.0, 200);
    h.drain_queue().await;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_follows_its_contact_handed_over_while_it_was_stored() {
    let mut h = known_customer().await;
    let handed_over = h.meanwhile(Meanwhile::Handover);

    assert_eq!(h.post("post-image").await.0, 200);
    assert!(
        handed_over.load(Ordering::SeqCst),
        "the handover came between"
    );
    let sent_at = DateTime::from_timestamp(T0 + 5, 0).unwrap();
    let profile = h.profile_of(CUSTOMER).await.unwrap();
    assert_eq!(profile.retention, RetentionClass::Service13m);
    assert_eq!(profile.body::<Contact>().unwrap().last_contact_at, sent_at);
    assert_eq!(h.messages_of(CUSTOMER).await.len(), 2);
    let image = h.stored_image().await;
    assert_eq!(image.retention, RetentionClass::Service13m);
    assert_eq!(
        image.expires_at,
        RetentionClass::Service13m.deadline(sent_at)
    );
    assert_eq!(h.drain_queue().await.len(), 1, "queued once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_follows_its_handed_over_contact_when_a_failure_interrupted_that() {
    let mut h = known_customer().await;
    h.meanwhile(Meanwhile::HandoverThenFailure);

    assert_eq!(h.post("post-image").await.0, 500, "WhatsApp will retry");
    assert_eq!(h.stored_image().await.retention, RetentionClass::Bot7d);
    assert_eq!(h.post("post-image").await.0, 200, "WhatsApp's retry");
    let sent_at = DateTime::from_timestamp(T0 + 5, 0).unwrap();
    let image = h.stored_image().await;
    assert_eq!(image.retention, RetentionClass::Service13m);
    assert_eq!(
        image.expires_at,
        RetentionClass::Service13m.deadline(sent_at)
    );
    assert_eq!(h.messages_of(CUSTOMER).await.len(), 2);
    assert_eq!(h.drain_queue().await.len(), 1, "queued once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_placed_while_a_message_is_stored_takes_the_message_back() {
    let mut h = known_customer().await;
    let held = h.meanwhile(Meanwhile::Hold);

    assert_eq!(h.post("post-image").await.0, 200);
    assert!(held.load(Ordering::SeqCst), "the hold came between");
    let messages = h.messages_of(CUSTOMER).await;
    assert_eq!(messages.len(), 1, "only the message from before the hold");
    assert_eq!(messages[0].message_type, MessageType::Text);
    assert!(h.drain_queue().await.is_empty(), "Lisa does not answer it");
    let marker = pseudonymizer().delivery_marker(POST_IMAGE_WAMID);
    assert!(
        h.store.get(&marker).await.unwrap().is_none(),
        "no delivery marker kept either"
    );
}

#[tokio::test]
async fn a_message_of_a_contact_under_legal_hold_is_neither_stored_nor_queued() {
    let h = known_customer().await;
    let contact = pseudonymizer().contact(CUSTOMER).unwrap();
    h.store
        .place_hold(
            &ItemKey::profile(&contact),
            Hold {
                reason: "case 2026-117".into(),
                placed_at: h.clock.now(),
            },
        )
        .await
        .unwrap();

    assert_eq!(h.post("post-image").await.0, 200);
    let messages = h.messages_of(CUSTOMER).await;
    assert_eq!(messages.len(), 1, "only the message from before the hold");
    assert_eq!(messages[0].message_type, MessageType::Text);
    assert!(h.drain_queue().await.is_empty(), "Lisa does not answer it");
    let marker = pseudonymizer().delivery_marker(POST_IMAGE_WAMID);
    assert!(
        h.store.get(&marker).await.unwrap().is_none(),
        "no delivery marker kept either"
    );
}

#[tokio::test]
async fn a_redelivery_of_a_message_lisa_took_is_a_duplicate_even_a_day_later() {
    let h = harness();
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.post("post-text").await.0, 200);
    h.lisa_takes_the_messages_of(CUSTOMER).await;
    h.clock.advance(Duration::days(1));
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.drain_queue().await.len(), 1);
    assert_eq!(h.messages_of(CUSTOMER).await.len(), 1);
}

#[tokio::test]
async fn until_lisa_takes_a_message_a_redelivery_queues_it_again_and_stores_nothing_twice() {
    let h = harness();
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.drain_queue().await.len(), 1);
    let marker_key = pseudonymizer().delivery_marker(POST_TEXT_WAMID);
    let marker = h.store.get(&marker_key).await.unwrap().expect("marked");
    // Within the FIFO queue's deduplication window the repeat is dropped there.
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.drain_queue().await.len(), 0);
    // Beyond it, the notice goes again (the first delivery may have stopped before sending
    // it); Lisa answers a message once.
    h.clock.advance(Duration::minutes(10));
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.drain_queue().await.len(), 1);
    assert_eq!(h.messages_of(CUSTOMER).await.len(), 1);
    assert_eq!(
        h.store.get(&marker_key).await.unwrap().expect("marked"),
        marker,
        "the marker is kept as it was"
    );
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
    // Every message write fails while `down` is set.
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let is_down = down.clone();
    let h = harness_failing(move |_, key| {
        is_down.load(Ordering::SeqCst) && key.sk.starts_with(MESSAGE_PREFIX)
    });
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

/// The WhatsApp id of `post-image.json`'s message.
const POST_IMAGE_WAMID: &str = "wamid.HBgNNDkxNzYxMjM0NTY3OBUCABIYFDNBMDQ000005AA==";

/// The WhatsApp id of `post-text.json`'s message.
const POST_TEXT_WAMID: &str = "wamid.HBgNNDkxNzYxMjM0NTY3OBUCABIYFDNBMDQ000001AA==";

/// The customer's text, delivered again ten minutes later while every write fails, after
/// Lisa took it or before: the redelivery's status and the notices queued by it.
async fn redelivered_while_writes_fail(lisa_took_it: bool) -> (u16, usize, Harness) {
    let refusing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let on = refusing.clone();
    let h = harness_failing(move |operation, _| {
        on.load(Ordering::SeqCst) && !matches!(operation, "get" | "query")
    });
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.drain_queue().await.len(), 1);
    if lisa_took_it {
        h.lisa_takes_the_messages_of(CUSTOMER).await;
    }
    refusing.store(true, Ordering::SeqCst);
    h.clock.advance(Duration::minutes(10));
    let status = h.post("post-text").await.0;
    let notices = h.drain_queue().await.len();
    (status, notices, h)
}

#[tokio::test]
async fn a_redelivery_of_a_message_lisa_took_is_acknowledged_without_writing_anything() {
    // Reads of the delivery marker and the message: a redelivery neither writes nor queues.
    let (status, notices, h) = redelivered_while_writes_fail(true).await;
    assert_eq!((status, notices), (200, 0), "acknowledged, nothing queued");
    assert_eq!(h.messages_of(CUSTOMER).await.len(), 1);
}

#[tokio::test]
async fn a_redelivery_before_lisa_took_the_message_writes_nothing_that_is_there() {
    // Message, profile and marker are there: only the notice goes again.
    let (status, notices, h) = redelivered_while_writes_fail(false).await;
    assert_eq!(
        (status, notices),
        (200, 1),
        "acknowledged, the notice again"
    );
    assert_eq!(h.messages_of(CUSTOMER).await.len(), 1);
}

#[tokio::test]
async fn a_delivery_whose_marker_write_failed_is_finished_by_the_retry_once() {
    // The delivery marker's create, beside the message's, fails once.
    let failures = Arc::new(AtomicU32::new(1));
    let left = failures.clone();
    let h = harness_failing(move |operation, key| {
        operation != "get"
            && key.pk.starts_with("WAMID#")
            && left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(1))
                .is_ok()
    });
    assert_eq!(h.post("post-text").await.0, 500, "WhatsApp must retry");
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "the marker write failed"
    );
    assert_eq!(
        h.drain_queue().await.len(),
        0,
        "not queued without its marker"
    );
    // The retry stores nothing twice, marks and queues the message.
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.drain_queue().await.len(), 1, "queued once");
    assert_eq!(h.messages_of(CUSTOMER).await.len(), 1, "stored once");
    // Once Lisa took it, a redelivery is a duplicate, also beyond the queue's deduplication
    // window.
    h.lisa_takes_the_messages_of(CUSTOMER).await;
    h.clock.advance(Duration::minutes(10));
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.drain_queue().await.len(), 0);
}

#[tokio::test]
async fn an_unfinished_delivery_marked_by_an_earlier_release_is_finished_once() {
    let h = harness();
    // Earlier releases wrote the marker first, `queued: false`, and were interrupted then.
    let contact = pseudonymizer().contact(CUSTOMER).unwrap();
    let now = h.clock.now();
    let marker = DeliveryMarker {
        first_seen_at: now,
        // The sample message's own time (`timestamp` in post-text.json).
        message: ItemKey::message(
            &contact,
            messages::message_id_for(
                POST_TEXT_WAMID,
                DateTime::from_timestamp(T0 + 1, 0).unwrap(),
            ),
        ),
        queued: false,
    };
    let marker_key = pseudonymizer().delivery_marker(POST_TEXT_WAMID);
    h.store
        .create(
            &Record::new(marker_key.clone(), &marker, retention::INBOUND_MARKER, now)
                .unwrap()
                .owned_by(&contact),
        )
        .await
        .unwrap();
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(h.drain_queue().await.len(), 1, "queued");
    assert_eq!(h.messages_of(CUSTOMER).await.len(), 1, "stored");
    let kept: DeliveryMarker = h
        .store
        .get(&marker_key)
        .await
        .unwrap()
        .unwrap()
        .body()
        .unwrap();
    assert_eq!(kept, marker, "the marker as it was");
    h.lisa_takes_the_messages_of(CUSTOMER).await;
    h.clock.advance(Duration::minutes(10));
    assert_eq!(h.post("post-text").await.0, 200);
    assert_eq!(
        h.drain_queue().await.len(),
        0,
        "a redelivery is a duplicate now"
    );
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
        pricing: None,
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
async fn logs_hold_no_phone_number_user_id_name_or_text() {
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
        ERIKA_USER_ID,
        NEW_USER_ID,
        NEW_NUMBER,
        LENA,
        "lena.k",
        "Lena",
    ] {
        assert!(!logs.contains(secret), "log contains {secret:?}: {logs}");
    }
}

#[tokio::test]
async fn the_clock_is_the_injected_one() {
    let started = std::time::Instant::now();
    let h = harness();
    h.post("post-text").await;
    let profile = h.profile_of(CUSTOMER).await.unwrap();
    h.clock.set(profile.expires_at);
    assert!(
        h.store.get(&profile.key).await.unwrap().is_none(),
        "gone at its deadline"
    );
    // Seven days passed for the store, not for the test: time was moved, not waited for.
    let fixture_time = DateTime::from_timestamp(T0, 0).unwrap();
    assert!(h.clock.now() - fixture_time >= Duration::days(7));
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

impl Harness {
    /// A payload signed as WhatsApp signs it, through the handler.
    async fn post_json(&self, payload: serde_json::Value) -> u16 {
        let request =
            servicekanal_testing::signed_post(whatsapp_webhook::WEBHOOK_PATH, &payload, APP_SECRET);
        handle(request, &self.ports).await.status().as_u16()
    }

    /// A text as WhatsApp delivers it, from whichever identifiers are given.
    async fn text_from(&self, n: u32, phone: Option<&str>, user_id: Option<&str>, text: &str) {
        let mut message = serde_json::json!({
            "id": format!("wamid.TEST{n}"), "timestamp": (T0 + 100 + i64::from(n)).to_string(),
            "type": "text", "text": { "body": text },
        });
        let mut contact = serde_json::json!({ "profile": { "name": "Erika Mustermann" } });
        if let Some(phone) = phone {
            message["from"] = phone.into();
            contact["wa_id"] = phone.into();
        }
        if let Some(user_id) = user_id {
            message["from_user_id"] = user_id.into();
            contact["user_id"] = user_id.into();
        }
        let payload = serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "4930123456789", "phone_number_id": "106540352242922" },
                "contacts": [contact], "messages": [message],
            }}]}],
        });
        assert_eq!(self.post_json(payload).await, 200);
    }

    async fn lookup(&self, identifier: Identifier) -> Option<Pseudonym> {
        let pseudonymizer = pseudonymizer();
        Identities {
            store: self.store.as_ref(),
            pseudonymizer: &pseudonymizer,
        }
        .lookup(&identifier)
        .await
        .unwrap()
    }

    async fn profile_in(&self, contact: &Pseudonym) -> Contact {
        self.store
            .get(&ItemKey::profile(contact))
            .await
            .unwrap()
            .unwrap()
            .body()
            .unwrap()
    }

    /// Everything readable in the store, as JSON text (to look for what must not be there).
    fn everything(&self) -> String {
        self.store
            .readable_items()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {:?}",
                    r.key,
                    r.owner.as_deref().unwrap_or(""),
                    r.data
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn phone(raw: &str) -> Identifier {
    Identifier::phone(raw).unwrap()
}

fn user(raw: &str) -> Identifier {
    Identifier::user_id(raw).unwrap()
}

#[tokio::test]
async fn a_phone_contact_who_continues_by_user_id_stays_one_contact() {
    let h = harness();
    h.post("post-text").await; // phone number only (before user ids)
    h.post("post-bsuid-with-phone").await; // both: the user id is linked
    h.text_from(1, None, Some(ERIKA_USER_ID), "Und noch etwas")
        .await; // user id only
    let erika = pseudonymizer().contact(CUSTOMER).unwrap();
    assert_eq!(h.messages_in(&erika).await.len(), 3, "one history");
    assert_eq!(h.lookup(phone(CUSTOMER)).await, Some(erika.clone()));
    assert_eq!(h.lookup(user(ERIKA_USER_ID)).await, Some(erika.clone()));
    let profile = h.profile_in(&erika).await;
    assert_eq!(profile.wa_id.as_deref(), Some(CUSTOMER));
    assert_eq!(profile.user_id.as_deref(), Some(ERIKA_USER_ID));
    let groups: std::collections::HashSet<_> = h
        .drain_queue()
        .await
        .iter()
        .map(|q| group_of(q).unwrap().to_owned())
        .collect();
    assert_eq!(groups.len(), 1, "Lisa reads her messages in one order");
    let user_pk = pseudonymizer().user(ERIKA_USER_ID).unwrap().partition();
    assert!(!h.everything().contains(&user_pk), "no second contact");
}

#[tokio::test]
async fn a_username_contact_who_later_shows_the_number_stays_one_contact() {
    let h = harness();
    h.post("post-username-only").await;
    let lena = pseudonymizer().user(LENA).unwrap();
    let profile = h.profile_in(&lena).await;
    assert_eq!(profile.wa_id, None);
    assert_eq!(profile.username.as_deref(), Some("lena.k"));
    assert_eq!(
        profile.recipient(),
        Some(servicekanal_shared::domain::Recipient::UserId(LENA.into())),
        "replies go to her user id"
    );
    h.text_from(
        2,
        Some("4915755501234"),
        Some(LENA),
        "Meine Nummer ist jetzt sichtbar",
    )
    .await;
    assert_eq!(h.messages_in(&lena).await.len(), 2);
    assert_eq!(h.lookup(phone("4915755501234")).await, Some(lena.clone()));
    let profile = h.profile_in(&lena).await;
    assert_eq!(profile.wa_id.as_deref(), Some("4915755501234"));
    assert_eq!(profile.username.as_deref(), Some("lena.k"), "kept");
}

#[tokio::test]
async fn two_contacts_of_one_person_become_one_when_a_message_names_both() {
    let h = harness();
    h.post("post-text").await; // Erika by number
    h.clock.advance(Duration::minutes(5));
    h.text_from(3, None, Some(ERIKA_USER_ID), "Hallo nochmal")
        .await; // by user id only
    let by_phone = pseudonymizer().contact(CUSTOMER).unwrap();
    let by_user = pseudonymizer().user(ERIKA_USER_ID).unwrap();
    assert_ne!(
        h.lookup(phone(CUSTOMER)).await,
        h.lookup(user(ERIKA_USER_ID)).await
    );
    h.post("post-bsuid-with-phone").await; // names both: one person
    let kept = h.lookup(phone(CUSTOMER)).await.unwrap();
    assert_eq!(h.lookup(user(ERIKA_USER_ID)).await, Some(kept.clone()));
    let merged = if kept == by_phone {
        &by_user
    } else {
        &by_phone
    };
    let merged_profile = h
        .store
        .get(&ItemKey::profile(merged))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        merged_profile.owner.as_deref(),
        Some(kept.as_str()),
        "owned by the kept contact"
    );
    let profile = h.profile_in(&kept).await;
    assert_eq!(profile.wa_id.as_deref(), Some(CUSTOMER));
    assert_eq!(profile.user_id.as_deref(), Some(ERIKA_USER_ID));
    let history = h.messages_in(&by_phone).await.len() + h.messages_in(&by_user).await.len();
    assert_eq!(history, 3, "nothing lost");

    // Erasure by either identifier reaches both histories.
    let pz = pseudonymizer();
    let person = servicekanal_shared::policy::privacy::find_person(
        h.store.as_ref(),
        &pz,
        &servicekanal_shared::policy::privacy::PersonRef::UserId(ERIKA_USER_ID.into()),
    )
    .await
    .unwrap();
    servicekanal_shared::policy::privacy::erase(h.store.as_ref(), &person)
        .await
        .unwrap();
    assert_eq!(h.messages_in(&by_phone).await.len(), 0);
    assert_eq!(h.messages_in(&by_user).await.len(), 0);
    assert!(
        h.store.readable_items().unwrap().is_empty(),
        "{}",
        h.everything()
    );
}

#[tokio::test]
async fn a_changed_number_keeps_the_history_and_forgets_the_old_number() {
    let h = harness();
    h.post("post-bsuid-with-phone").await;
    let erika = pseudonymizer().contact(CUSTOMER).unwrap();
    let (status, _) = h.post("post-user-changed-number").await;
    assert_eq!(status, 200);
    assert_eq!(h.lookup(phone(NEW_NUMBER)).await, Some(erika.clone()));
    assert_eq!(h.lookup(user(NEW_USER_ID)).await, Some(erika.clone()));
    assert_eq!(
        h.lookup(phone(CUSTOMER)).await,
        None,
        "the old number leads nowhere"
    );
    assert_eq!(h.lookup(user(ERIKA_USER_ID)).await, None);
    let profile = h.profile_in(&erika).await;
    assert_eq!(profile.wa_id.as_deref(), Some(NEW_NUMBER));
    assert_eq!(profile.user_id.as_deref(), Some(NEW_USER_ID));
    let stored = h.everything();
    for old in [CUSTOMER, ERIKA_USER_ID] {
        assert!(!stored.contains(old), "{old} still stored: {stored}");
    }
    let old_links = [
        ItemKey::identity_link(&pseudonymizer().contact(CUSTOMER).unwrap()),
        ItemKey::identity_link(&pseudonymizer().user(ERIKA_USER_ID).unwrap()),
    ];
    for key in old_links {
        assert!(h.store.get(&key).await.unwrap().is_none());
    }
    // A redelivery changes nothing; the next message from the new number joins her history.
    let (status, _) = h.post("post-user-changed-number").await;
    assert_eq!(status, 200);
    h.text_from(
        4,
        Some(NEW_NUMBER),
        Some(NEW_USER_ID),
        "Neue Nummer, gleiche Erika",
    )
    .await;
    assert_eq!(h.messages_in(&erika).await.len(), 2);
    assert_eq!(
        h.drain_queue().await.len(),
        2,
        "the change itself is not for Lisa"
    );
}

#[tokio::test]
async fn a_changed_user_id_moves_the_link_and_keeps_the_number() {
    let h = harness();
    h.post("post-bsuid-with-phone").await;
    let erika = pseudonymizer().contact(CUSTOMER).unwrap();
    h.post("post-user-changed-user-id").await;
    assert_eq!(h.lookup(user(NEW_USER_ID)).await, Some(erika.clone()));
    assert_eq!(h.lookup(user(ERIKA_USER_ID)).await, None);
    assert_eq!(h.lookup(phone(CUSTOMER)).await, Some(erika.clone()));
    let profile = h.profile_in(&erika).await;
    assert_eq!(profile.user_id.as_deref(), Some(NEW_USER_ID));
    assert!(!h.everything().contains(ERIKA_USER_ID));
    h.text_from(5, None, Some(NEW_USER_ID), "Ich bin's").await;
    assert_eq!(h.messages_in(&erika).await.len(), 2);
}

#[tokio::test]
async fn a_number_given_to_someone_new_starts_a_new_contact() {
    let h = harness();
    h.post("post-bsuid-with-phone").await;
    h.post("post-user-changed-number").await;
    // Months later the old number belongs to someone else.
    h.text_from(
        6,
        Some(CUSTOMER),
        Some("DE.5550001112223334"),
        "Hallo, ich bin neu",
    )
    .await;
    let newcomer = h.lookup(phone(CUSTOMER)).await.unwrap();
    let erika = pseudonymizer().contact(CUSTOMER).unwrap();
    assert_ne!(newcomer, erika, "not Erika's history");
    assert_eq!(h.messages_in(&newcomer).await.len(), 1);
    assert_eq!(h.messages_in(&erika).await.len(), 1);
}

#[tokio::test]
async fn statuses_by_user_id_only_and_failed_ones_without_contacts_are_read() {
    let h = harness();
    for name in ["post-status-user-id-only", "post-status-failed"] {
        let (status, _) = h.post(name).await;
        assert_eq!(status, 200, "{name}");
    }
    let sample: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(events_dir().join("post-status-user-id-only.json")).unwrap(),
    )
    .unwrap();
    let payload: servicekanal_shared::channels::whatsapp::payload::WebhookPayload =
        serde_json::from_str(sample["body"].as_str().unwrap()).unwrap();
    let status = payload.entry[0].changes[0].value.statuses[0].ok().unwrap();
    assert_eq!(status.recipient_id, None);
    assert_eq!(status.recipient_user_id.as_deref(), Some(LENA));
    let pricing = status.pricing.as_ref().unwrap();
    assert_eq!(pricing.category.as_deref(), Some("service"));
    assert_eq!(pricing.kind.as_deref(), Some("free_customer_service"));
}

/// A message dated a year ahead (a phone's clock, or a signed payload made up) counts from
/// now: neither it nor its contact is kept a day longer than promised.
#[tokio::test]
async fn a_message_dated_in_the_future_counts_from_now() {
    let h = harness();
    let payload = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "4930123456789", "phone_number_id": "106540352242922" },
            "contacts": [{ "profile": { "name": "Erika Mustermann" }, "wa_id": CUSTOMER }],
            "messages": [{ "from": CUSTOMER, "id": "wamid.FUTURE",
                           "timestamp": (T0 + 365 * 86_400).to_string(),
                           "type": "text", "text": { "body": "Hallo aus der Zukunft" } }],
        }}]}],
    });
    assert_eq!(h.post_json(payload).await, 200);
    let now = h.clock.now();
    let profile = h.profile_of(CUSTOMER).await.unwrap();
    assert_eq!(profile.expires_at, now + Duration::days(7));
    assert_eq!(profile.body::<Contact>().unwrap().last_contact_at, now);
    let messages = h.messages_of(CUSTOMER).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].at, now);
}
