//! Property-based tests of the webhook through its real handler (embedded store, in-process
//! FIFO queue, a fixed clock): whatever arrives, a body not signed with the app secret is
//! refused and leaves no trace; a signed body never makes the handler fail or panic; a
//! signed message is stored and queued exactly once however often WhatsApp delivers it.
//!
//! Case counts are bounded (each case opens a fresh store); `PROPTEST_CASES` raises them for
//! a long run (docs/reliability.md).

use chrono::DateTime;
use lambda_http::Body;
use proptest::prelude::*;
use servicekanal_shared::channels::whatsapp::payload::{
    SIGNATURE_HEADER, Sender, UserMessage, WebhookPayload, sign,
};
use servicekanal_shared::domain::keys::{MESSAGE_PREFIX, Pseudonymizer};
use servicekanal_shared::domain::{Message, MessageContent};
use servicekanal_shared::policy::mask::Secret;
use servicekanal_shared::ports::clock::ManualClock;
use servicekanal_shared::ports::queue::memory::InProcessQueue;
use servicekanal_shared::ports::store::embedded::EmbeddedStore;
use servicekanal_shared::ports::store::{ChangeFeed, RecordKind, key_of_change};
use servicekanal_testing::properties::{
    WHATSAPP_NAMES, WHATSAPP_VALUES, config, json_with, sender, user_message,
};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use whatsapp_webhook::{DEFAULT_MAX_BODY_BYTES, Ports, WEBHOOK_PATH, WebhookConfig, handle};

const APP_SECRET: &str = "servicekanal-local-app-secret";
/// 2026-11-20 12:00 UTC.
const NOW: i64 = 1_795_262_400;

struct Harness {
    ports: Ports,
    store: Arc<EmbeddedStore>,
    queue: Arc<InProcessQueue>,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(DateTime::from_timestamp(NOW, 0).unwrap());
    let store = Arc::new(EmbeddedStore::open(dir.path(), Arc::new(clock.clone())).unwrap());
    let queue = Arc::new(InProcessQueue::new("inbound.fifo", Arc::new(clock.clone())));
    Harness {
        ports: Ports {
            store: store.clone(),
            inbound_queue: queue.clone(),
            clock: Arc::new(clock),
            pseudonymizer: Pseudonymizer::new(*b"webhook-properties-pseudonym-key-0123").unwrap(),
            config: WebhookConfig {
                app_secret: Secret(APP_SECRET.into()),
                verify_token: Secret("verify".into()),
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            },
        },
        store,
        queue,
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        _dir: dir,
    }
}

impl Harness {
    /// POSTs `body` with the signature header `signature` (none: no header); the status and
    /// the answer's text.
    fn post(&self, body: &[u8], signature: Option<&str>) -> (u16, String) {
        let mut request = lambda_http::http::Request::builder()
            .method("POST")
            .uri(WEBHOOK_PATH);
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        let request = request.body(Body::from(body.to_vec())).unwrap();
        let response = self.runtime.block_on(handle(request, &self.ports));
        let text = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        (response.status().as_u16(), text)
    }

    fn writes(&self) -> usize {
        self.runtime
            .block_on(self.store.change_feed(None).poll(1000))
            .unwrap()
            .len()
    }

    /// How many messages were written, readable now or not (a message older than its
    /// 7 days is stored past its deadline, so nothing reads it).
    fn messages_written(&self) -> usize {
        self.runtime
            .block_on(self.store.change_feed(None).poll(1000))
            .unwrap()
            .iter()
            .filter(|r| r.event_name == "INSERT")
            .filter(|r| key_of_change(r).unwrap().sk.starts_with(MESSAGE_PREFIX))
            .count()
    }

    fn messages(&self) -> Vec<Message> {
        self.store
            .readable_items()
            .unwrap()
            .into_iter()
            .filter(|r| r.kind == RecordKind::Message)
            .map(|r| r.body().unwrap())
            .collect()
    }
}

/// The bodies of the sample POSTs in events/whatsapp-webhook/.
static SAMPLES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/whatsapp-webhook");
    let mut bodies: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("post-")
        })
        .map(|p| {
            let request = lambda_http::request::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            request.body().as_ref().to_vec()
        })
        .collect();
    bodies.sort();
    bodies
});

/// A notification as WhatsApp sends it, timestamped around the harness's clock.
fn inbound() -> impl Strategy<Value = (Sender, String, UserMessage, Vec<u8>)> {
    (
        sender(),
        "wamid\\.[A-Za-z0-9]{10,30}",
        -86_400i64..3_600,
        user_message(),
    )
        .prop_map(|(sender, wamid, offset, message)| {
            let at = DateTime::from_timestamp(NOW + offset, 0).unwrap();
            let payload = WebhookPayload::inbound("106540352242922", &sender, &wamid, at, &message);
            let body = serde_json::to_vec(&payload).unwrap();
            (sender, wamid, message, body)
        })
}

/// A message as WhatsApp shapes it, each field random: senders, ids, types and timestamps
/// from the plausible to the absurd (the year 1, the year 262143, out of range).
fn message_shaped() -> impl Strategy<Value = serde_json::Value> {
    (
        proptest::option::of(prop_oneof!["49[1-9][0-9]{8,11}", ".{0,12}"]),
        proptest::option::of("DE\\.[0-9]{1,16}"),
        prop_oneof!["wamid\\.[A-Za-z0-9]{1,20}", ".{0,6}"],
        prop_oneof![
            (1_700_000_000i64..1_900_000_000).prop_map(|t| t.to_string()),
            prop::sample::select(vec![
                "",
                "0",
                "-1",
                "-62135596800",
                // The ends of chrono's calendar, and just beyond.
                "-8334569692800",
                "-8334601228800",
                "253402300799",
                "8210266876799",
                "8210298412799",
                "9223372036854775807",
                "1e9",
                "soon",
            ])
            .prop_map(str::to_owned),
        ],
        prop::sample::select(vec![
            "text",
            "interactive",
            "button",
            "image",
            "location",
            "contacts",
            "reaction",
            "system",
            "unsupported",
            "",
        ]),
        json_with(WHATSAPP_NAMES, WHATSAPP_VALUES, 5),
    )
        .prop_map(|(from, user, id, timestamp, kind, extra)| {
            let mut message = serde_json::json!({
                "id": id, "timestamp": timestamp, "type": kind,
                "text": { "body": "Hallo" },
            });
            if let Some(from) = from {
                message["from"] = from.into();
            }
            if let Some(user) = user {
                message["from_user_id"] = user.into();
            }
            if let serde_json::Value::Object(extra) = extra {
                for (k, v) in extra {
                    if k != "id" && k != "timestamp" {
                        message[k] = v;
                    }
                }
            }
            message
        })
}

/// A notification-shaped document whose message and status fields are random.
fn notification_shaped() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(
            prop_oneof![
                json_with(WHATSAPP_NAMES, WHATSAPP_VALUES, 5),
                message_shaped()
            ],
            0..3,
        ),
        prop::collection::vec(json_with(WHATSAPP_NAMES, WHATSAPP_VALUES, 5), 0..3),
        prop::collection::vec(json_with(WHATSAPP_NAMES, WHATSAPP_VALUES, 5), 0..2),
    )
        .prop_map(|(messages, statuses, contacts)| {
            serde_json::to_vec(&serde_json::json!({
                "object": "whatsapp_business_account",
                "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "contacts": contacts, "messages": messages, "statuses": statuses,
                }}]}],
            }))
            .unwrap()
        })
}

/// Anything a POST may carry.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::sample::select(SAMPLES.clone()),
        inbound().prop_map(|(.., body)| body),
        json_with(WHATSAPP_NAMES, WHATSAPP_VALUES, 5).prop_map(|v| serde_json::to_vec(&v).unwrap()),
        notification_shaped(),
    ]
}

#[derive(Clone, Debug)]
enum BadSignature {
    Missing,
    Garbage(String),
    OtherSecret(String),
    /// The signature of the body with one byte changed: the body was altered after signing.
    Altered(prop::sample::Index, u8),
    /// A body signed, then re-serialised (pretty-printed) on the way.
    Reserialised,
}

fn bad_signature() -> impl Strategy<Value = BadSignature> {
    prop_oneof![
        Just(BadSignature::Missing),
        // Anything a header value may hold (no control characters), non-ASCII too.
        prop_oneof![
            "[^\\x00-\\x08\\x0a-\\x1f\\x7f]{0,80}",
            "sha256=[0-9a-f]{64}",
            "sha256=[0-9A-F]{0,70}"
        ]
        .prop_map(BadSignature::Garbage),
        "[a-z0-9-]{1,40}"
            .prop_filter("another secret", |s| s != APP_SECRET)
            .prop_map(BadSignature::OtherSecret),
        (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, x)| BadSignature::Altered(i, x)),
        Just(BadSignature::Reserialised),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn a_body_without_the_apps_signature_is_refused_and_leaves_no_trace(
        body in any_body(),
        bad in bad_signature(),
    ) {
        let h = harness();
        let header = match &bad {
            BadSignature::Missing => None,
            BadSignature::Garbage(header) => Some(header.clone()),
            BadSignature::OtherSecret(secret) => Some(sign(secret.as_bytes(), &body)),
            BadSignature::Altered(at, flip) => {
                let mut signed = body.clone();
                if signed.is_empty() {
                    signed.push(*flip);
                } else {
                    let i = at.index(signed.len());
                    signed[i] ^= flip;
                }
                Some(sign(APP_SECRET.as_bytes(), &signed))
            }
            BadSignature::Reserialised => {
                let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
                    return Ok(());
                };
                let header = sign(APP_SECRET.as_bytes(), &body);
                let pretty = serde_json::to_vec_pretty(&value).unwrap();
                if pretty == body {
                    return Ok(());
                }
                let answer = h.post(&pretty, Some(&header));
                prop_assert_eq!(answer, (401, "invalid signature".to_owned()));
                prop_assert_eq!(h.writes(), 0);
                prop_assert_eq!(h.queue.depth(), 0);
                return Ok(());
            }
        };
        prop_assert_eq!(h.post(&body, header.as_deref()), (401, "invalid signature".to_owned()));
        prop_assert_eq!(h.writes(), 0, "nothing written");
        prop_assert_eq!(h.queue.depth(), 0, "nothing queued");
    }

    #[test]
    fn a_signed_body_is_always_acknowledged_never_a_server_error(body in any_body()) {
        let h = harness();
        let header = sign(APP_SECRET.as_bytes(), &body);
        let (status, text) = h.post(&body, Some(&header));
        // 200 "ok" or "rejected": a 500 would make WhatsApp retry for days.
        prop_assert_eq!(status, 200, "{}: {}", text, String::from_utf8_lossy(&body));
        let queued = h.queue.depth();
        // Every notice for Lisa points to a message written.
        prop_assert!(
            queued <= h.messages_written(),
            "queued {queued} but stored fewer: {}",
            String::from_utf8_lossy(&body)
        );
        // A redelivery of the same bytes changes nothing queued.
        prop_assert_eq!(h.post(&body, Some(&header)).0, 200);
        prop_assert_eq!(h.queue.depth(), queued);
    }

    #[test]
    fn a_message_dated_in_the_future_is_kept_seven_days_from_its_arrival(
        ahead in prop_oneof![1i64..86_400, 86_400i64..8_210_266_876_799 - NOW],
        text in ".{0,40}",
    ) {
        // The 7 days count from the message, but never from later than its arrival: a clock
        // ahead (or a timestamp at the calendar's end) must not keep it longer, nor fail.
        let h = harness();
        let at = DateTime::from_timestamp(NOW + ahead, 0).unwrap();
        let sender = Sender::phone("4917612345678", Some("Erika"));
        let payload = WebhookPayload::inbound(
            "106540352242922", &sender, "wamid.FUTURE", at, &UserMessage::Text { body: text },
        );
        let body = serde_json::to_vec(&payload).unwrap();
        prop_assert_eq!(
            h.post(&body, Some(&sign(APP_SECRET.as_bytes(), &body))),
            (200, "ok".to_owned())
        );
        let arrival = DateTime::from_timestamp(NOW, 0).unwrap();
        let written = h.store.readable_items().unwrap();
        prop_assert!(!written.is_empty());
        for record in written {
            prop_assert!(
                record.expires_at <= arrival + chrono::Duration::days(7),
                "{} due {}", record.key, record.expires_at
            );
        }
    }

    #[test]
    fn a_signed_message_is_stored_and_queued_once_however_often_it_comes(
        (sender, _wamid, message, body) in inbound(),
        deliveries in 1usize..4,
    ) {
        let h = harness();
        let header = sign(APP_SECRET.as_bytes(), &body);
        for _ in 0..deliveries {
            prop_assert_eq!(h.post(&body, Some(&header)), (200, "ok".to_owned()));
        }
        let stored = h.messages();
        if sender.wa_id.is_none() && sender.user_id.is_none() {
            // Nobody to answer: skipped.
            prop_assert!(stored.is_empty());
            prop_assert_eq!(h.queue.depth(), 0);
            return Ok(());
        }
        prop_assert_eq!(stored.len(), 1, "stored once");
        prop_assert_eq!(h.queue.depth(), 1, "queued once");
        let expected = match message {
            UserMessage::Text { body } => MessageContent::Text { body },
            UserMessage::Button { id, title } | UserMessage::ListRow { id, title } => {
                MessageContent::Choice { id, title }
            }
            UserMessage::Image { .. } => return Ok(()),
        };
        prop_assert_eq!(&stored[0].content, &expected);
    }
}
