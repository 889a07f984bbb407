//! voice-intake on the embedded store and in-process queues: every sample event through the
//! handler, idempotency per Connect contact, the sales side, and the 3-month deadline.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use servicekanal_shared::domain::CallbackRequest;
use servicekanal_shared::domain::callback::CallbackCatalogue;
use servicekanal_shared::domain::keys::ItemKey;
use servicekanal_shared::policy::privacy::all_holds;
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::{Clock, ManualClock};
use servicekanal_shared::ports::queue::Queue;
use servicekanal_shared::ports::queue::memory::InProcessQueue;
use servicekanal_shared::ports::store::embedded::EmbeddedStore;
use servicekanal_shared::ports::store::{ChangeFeed, Store, key_of_change};
use servicekanal_testing::LogCapture;
use std::sync::Arc;
use voice_intake::{Ports, SalesCallback, SalesError, handle, list_open, mark_done};

const CONTACT: &str = "5fb1d0c2-7c9e-4a1b-9d2f-0c3e5b7a9d11";

/// voice-intake on the embedded store and an in-process sales queue (the property tests'
/// harness too).
pub(crate) struct Harness {
    pub(crate) ports: Ports,
    pub(crate) clock: ManualClock,
    pub(crate) sales: Arc<InProcessQueue>,
    pub(crate) store: Arc<EmbeddedStore>,
    _dir: tempfile::TempDir,
}

/// Saturday 21 November 2026, 10:00 in Berlin.
fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn harness() -> Harness {
    harness_at(start())
}

pub(crate) fn harness_at(now: DateTime<Utc>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(now);
    let store = Arc::new(EmbeddedStore::open(dir.path(), Arc::new(clock.clone())).unwrap());
    let sales = Arc::new(InProcessQueue::new(
        "servicekanal-sales-callbacks.fifo",
        Arc::new(clock.clone()),
    ));
    Harness {
        ports: Ports {
            store: store.clone(),
            sales_queue: sales.clone(),
            clock: Arc::new(clock.clone()),
            catalogue: CallbackCatalogue::embedded(),
            pseudonymizer: servicekanal_testing::test_pseudonymizer(),
        },
        clock,
        sales,
        store,
        _dir: dir,
    }
}

fn sample(name: &str) -> Value {
    let path = format!(
        "{}/../../events/voice-intake/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

impl Harness {
    async fn send(&self, name: &str) -> Value {
        handle(sample(name), &self.ports).await.unwrap()
    }

    async fn sales_messages(&self) -> Vec<SalesCallback> {
        let mut out = Vec::new();
        for m in self.sales.receive(10).await.unwrap() {
            out.push(serde_json::from_str(m.body.as_deref().unwrap()).unwrap());
            self.sales
                .acknowledge(m.receipt_handle.as_deref().unwrap())
                .await
                .unwrap();
        }
        out
    }
}

#[tokio::test]
async fn a_connect_request_is_stored_once_handed_to_sales_and_confirmed_in_german() {
    let h = harness();
    let first = h.send("connect-callback").await;
    assert_eq!(first["status"], "ok");
    let reference = first["reference"].as_str().unwrap().to_owned();
    assert_eq!(
        first["message"],
        "Vielen Dank. Wir rufen Sie morgen zwischen 14 und 16 Uhr unter der Nummer 0 1 7, 6 1 2, 3 4 5, 6 7 8 zurück. \
         Ihre Referenz ist R B, 9 8 7 T U Q."
    );
    // Connect retries: the same answer, one request, one message for sales.
    let retry = h.send("connect-retry").await;
    assert_eq!(retry, first);
    let record = h
        .store
        .get(&ItemKey::callback_request(CONTACT))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.retention, RetentionClass::Callback3m);
    let request: CallbackRequest = record.body().unwrap();
    assert_eq!(request.phone, "+4917612345678");
    assert_eq!(request.topic, "tariff-advice");
    assert_eq!(
        request.window_start,
        DateTime::parse_from_rfc3339("2026-11-22T13:00:00Z").unwrap()
    );
    let sales = h.sales_messages().await;
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0].reference, reference);
    assert_eq!(sales[0].topic_label, "Tarifberatung");
    let listed = list_open(h.store.as_ref()).await.unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn a_different_callback_number_is_taken_from_the_spoken_parameter() {
    let h = harness();
    let answer = h.send("connect-other-number").await;
    assert_eq!(answer["status"], "ok", "{answer}");
    let open = list_open(h.store.as_ref()).await.unwrap();
    assert_eq!(open[0].phone, "+493012345678");
    assert_eq!(open[0].topic, "business-customers");
}

#[tokio::test]
async fn a_connect_event_with_null_endpoints_is_still_answered_with_connects_flat_map() {
    // A minimal event as AWS's own tooling makes them: no caller number, no system endpoint.
    let h = harness();
    let answer = h.send("connect-null-endpoints").await;
    assert_eq!(answer["status"], "ok", "{answer}");
    assert!(answer["reference"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(
        answer.as_object().unwrap().values().all(|v| v.is_string()),
        "{answer}"
    );

    // Without a number to call back on, the flow is asked for one; a parameter of another
    // type reads as missing rather than making the event unreadable.
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/voice-intake/connect-null-endpoints.json"
        ))
        .unwrap(),
    )
    .unwrap();
    event["Details"]["ContactData"]["ContactId"] = "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b".into();
    event["Details"]["Parameters"]["callback_number"] = serde_json::Value::Null;
    let answer = voice_intake::handle(event.clone(), &h.ports).await.unwrap();
    assert_eq!(answer["status"], "invalid", "{answer}");
    assert_eq!(answer["field"], "phone", "{answer}");
    event["Details"]["Parameters"]["name"] = serde_json::json!(["Max"]);
    event["Details"]["ContactData"] = serde_json::Value::Null;
    let answer = voice_intake::handle(event, &h.ports).await.unwrap();
    assert_eq!(answer["status"], "invalid", "{answer}");
}

#[tokio::test]
async fn invalid_input_names_the_field_and_stores_nothing() {
    let h = harness();
    for (event, field, prompt) in [
        ("connect-no-parameters", "name", "Wie ist Ihr Name?"),
        (
            "connect-premium-number",
            "phone",
            "Diese Rufnummer kann ich leider nicht verwenden.",
        ),
        (
            "connect-bad-window",
            "window",
            "Diesen Zeitraum habe ich nicht verstanden.",
        ),
    ] {
        let answer = h.send(event).await;
        assert_eq!(answer["status"], "invalid", "{event}");
        assert_eq!(answer["field"], field, "{event}");
        assert!(
            answer["message"].as_str().unwrap().starts_with(prompt),
            "{event}: {answer}"
        );
        assert!(answer.get("reference").is_none());
    }
    assert!(h.store.readable_items().unwrap().is_empty());
    assert!(h.sales_messages().await.is_empty());
}

#[tokio::test]
async fn lex_validates_slots_as_they_are_filled_and_fulfils() {
    let h = harness();
    let delegate = h.send("lex-dialog-valid").await;
    assert_eq!(delegate["sessionState"]["dialogAction"]["type"], "Delegate");
    assert!(delegate.get("messages").is_none());

    let elicit = h.send("lex-dialog-bad-number").await;
    assert_eq!(elicit["sessionState"]["dialogAction"]["type"], "ElicitSlot");
    assert_eq!(
        elicit["sessionState"]["dialogAction"]["slotToElicit"],
        "CallbackNumber"
    );
    assert!(elicit["sessionState"]["intent"]["slots"]["CallbackNumber"].is_null());
    assert!(
        elicit["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Rufnummer")
    );
    assert!(
        h.store.readable_items().unwrap().is_empty(),
        "validation stores nothing"
    );

    let done = h.send("lex-fulfillment").await;
    assert_eq!(done["sessionState"]["dialogAction"]["type"], "Close");
    assert_eq!(done["sessionState"]["intent"]["state"], "Fulfilled");
    assert!(
        done["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("am Dienstag, 24.11., zwischen 14 und 15 Uhr")
    );
    let open = list_open(h.store.as_ref()).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].topic, "contract-extension");
    assert_eq!(
        open[0].phone, "+4917612345678",
        "the caller's number from the flow"
    );
}

#[tokio::test]
async fn done_deletes_at_once_and_hold_blocks_instead() {
    let h = harness();
    h.send("connect-callback").await;
    h.send("connect-other-number").await;
    let open = list_open(h.store.as_ref()).await.unwrap();
    assert_eq!(open.len(), 2);
    assert!(
        open[0].window_start <= open[1].window_start,
        "earliest window first"
    );

    // Sales marks the first done through the sales-actions queue: gone, not just flagged.
    let response = h.send("sales-action-done").await;
    assert_eq!(response["batchItemFailures"], serde_json::json!([]));
    assert!(
        h.store
            .get(&ItemKey::callback_request(CONTACT))
            .await
            .unwrap()
            .is_none()
    );
    // The change stream shows the outcome before the removal: what the statistics count.
    let mut feed = h.store.change_feed(None);
    let changes = feed.poll(100).await.unwrap();
    let of_request: Vec<(String, Option<String>)> = changes
        .iter()
        .filter(|c| key_of_change(c).unwrap() == ItemKey::callback_request(CONTACT))
        .map(|c| {
            let status = c
                .change
                .new_image
                .get("data")
                .and_then(|d| serde_json::to_value(d).ok())
                .and_then(|d| d["M"]["status"]["S"].as_str().map(str::to_owned));
            (c.event_name.clone(), status)
        })
        .collect();
    assert_eq!(
        of_request,
        [
            ("INSERT".to_owned(), Some("open".to_owned())),
            ("MODIFY".to_owned(), Some("done".to_owned())),
            ("REMOVE".to_owned(), None),
        ]
    );
    // The same action again (a queue retry) changes nothing and fails nothing.
    let again = h.send("sales-action-done").await;
    assert_eq!(again["batchItemFailures"], serde_json::json!([]));

    // The other one goes under legal hold: kept, but not listed and not "done"-able.
    let other = list_open(h.store.as_ref()).await.unwrap().remove(0);
    let response = h.send("sales-action-hold").await;
    assert_eq!(response["batchItemFailures"], serde_json::json!([]));
    assert!(list_open(h.store.as_ref()).await.unwrap().is_empty());
    assert_eq!(
        mark_done(h.store.as_ref(), &other.reference, h.clock.now()).await,
        Err(SalesError::UnknownReference(other.reference.clone()))
    );
    let key = ItemKey::callback_request(&other.connect_contact_id);
    assert!(
        h.store.get(&key).await.unwrap().is_none(),
        "blocked from use"
    );
    let holds = all_holds(h.store.as_ref()).await.unwrap();
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].key, key);
    assert_eq!(holds[0].hold.as_ref().unwrap().reason, "Az. 4 O 117/26");
    let held: CallbackRequest = holds[0].body().unwrap();
    assert_eq!(held.reference, other.reference);
    // No deadline applies while held: three months on, it is still there.
    h.clock.advance(Duration::days(200));
    assert_eq!(all_holds(h.store.as_ref()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_open_request_is_unreadable_from_its_3_month_deadline_on() {
    let h = harness();
    h.send("connect-callback").await;
    h.clock.advance(Duration::days(89));
    assert_eq!(list_open(h.store.as_ref()).await.unwrap().len(), 1);
    // 21 November plus three calendar months is 21 February.
    h.clock.set(
        DateTime::parse_from_rfc3339("2027-02-21T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
    );
    assert!(list_open(h.store.as_ref()).await.unwrap().is_empty());
    assert!(h.store.readable_items().unwrap().is_empty());
}

#[tokio::test]
async fn logs_hold_no_number_name_or_what_was_said() {
    let capture = LogCapture::default();
    let _guard = capture.start();
    let h = harness();
    for event in [
        "connect-callback",
        "connect-other-number",
        "connect-premium-number",
        "connect-bad-window",
        "lex-fulfillment",
    ] {
        h.send(event).await;
    }
    let logs = capture.text();
    assert!(logs.contains("callback request taken"), "{logs}");
    for secret in [
        "17612345678",
        "12345678",
        "0900",
        "Max Muster",
        "Mustermann",
        "Erika",
        "mitten in der Nacht",
    ] {
        assert!(!logs.contains(secret), "{secret:?} leaked into the logs");
    }
}

#[tokio::test]
async fn an_event_of_another_shape_is_a_typed_error() {
    let h = harness();
    let err = handle(serde_json::json!({"hello": "world"}), &h.ports)
        .await
        .unwrap_err();
    assert!(matches!(err, voice_intake::VoiceError::UnknownEvent(_)));
    assert!(h.store.readable_items().unwrap().is_empty());
}
