//! Property-based tests of voice-intake's handler (embedded store, in-process sales queue, a
//! clock set to generated times, DST switches among them): whatever Amazon Connect or the Lex
//! V2 bot send, the caller hears an answer in the flow's terms, a request is stored only when
//! everything was usable (and then exactly once, in business hours, ahead, under
//! `callback-3m`), and nothing is stored when it was not.
//!
//! Case counts are bounded (each case opens a fresh store); `PROPTEST_CASES` raises them for
//! a long run (docs/reliability.md).

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Europe::Berlin;
use proptest::prelude::*;
use serde_json::{Value, json};
use servicekanal_shared::domain::callback::{
    BUSINESS_HOURS, CallbackCatalogue, parse_window, reference_for,
};
use servicekanal_shared::domain::keys::ItemKey;
use servicekanal_shared::domain::{CallbackRequest, phone};
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::store::{ChangeFeed, Record, Store};
use servicekanal_testing::properties::{config, json_with};
use std::sync::LazyLock;
use voice_intake::lex::{DATE, NAME, NUMBER, TIME, TOPIC};
use voice_intake::{VoiceError, handle};

/// voice-intake's test harness with a runtime of its own: proptest's cases are synchronous.
struct Harness {
    base: crate::voice::Harness,
    runtime: tokio::runtime::Runtime,
}

fn harness(now: DateTime<Utc>) -> Harness {
    Harness {
        base: crate::voice::harness_at(now),
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    }
}

impl Harness {
    fn handle(&self, event: Value) -> Result<Value, VoiceError> {
        self.runtime.block_on(handle(event, &self.base.ports))
    }

    fn writes(&self) -> usize {
        self.runtime
            .block_on(self.base.store.change_feed(None).poll(1000))
            .unwrap()
            .len()
    }

    fn request(&self, contact_id: &str) -> Option<Record> {
        self.runtime
            .block_on(self.base.store.get(&ItemKey::callback_request(contact_id)))
            .unwrap()
    }
}

static CATALOGUE: LazyLock<CallbackCatalogue> = LazyLock::new(CallbackCatalogue::embedded);

/// Times from 2025 to 2035, and the hours around Berlin's DST switches.
fn now() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        (1_735_689_600i64..2_051_222_400).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
        (
            prop::sample::select(vec![
                "2026-03-29T01:00:00Z",
                "2026-10-25T01:00:00Z",
                "2027-03-28T01:00:00Z",
                "2031-10-26T01:00:00Z",
            ]),
            -48i64 * 3600..48 * 3600,
        )
            .prop_map(|(switch, offset)| {
                DateTime::parse_from_rfc3339(switch).unwrap().to_utc() + Duration::seconds(offset)
            }),
    ]
}

fn contact_id() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        1 => ".{0,40}",
        1 => Just(String::new()),
        1 => Just("   ".to_owned()),
    ]
}

fn phone_said() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "\\+49 ?17[0-9] ?[0-9]{7,8}",
        4 => "017[0-9] [0-9]{3} [0-9]{4}",
        2 => "0049 30 [1-9][0-9]{7}",
        1 => Just("null eins sieben sechs eins zwei drei vier fünf sechs sieben acht".to_owned()),
        2 => "\\+43 ?664 ?[0-9]{7}",
        1 => "0900 [135][0-9]{6}",
        1 => "[0-9 +()/-]{0,20}",
        1 => ".{0,20}",
    ]
}

fn topic_said() -> impl Strategy<Value = String> {
    let known: Vec<String> = CATALOGUE
        .topics()
        .iter()
        .flat_map(|t| {
            [t.id.clone(), t.label.clone(), t.label.to_uppercase()]
                .into_iter()
                .chain(t.synonyms.iter().cloned())
        })
        .collect();
    prop_oneof![8 => prop::sample::select(known), 1 => ".{0,20}"]
}

fn window_said() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (8u32..20, 1u32..5, prop::sample::select(vec!["heute", "morgen", "übermorgen", "Freitag"]))
            .prop_map(|(from, len, day)| format!("{day} zwischen {from} und {} Uhr", from + len)),
        2 => prop::sample::select(vec![
            "heute ab 15 Uhr",
            "morgen vormittag",
            "Montag nachmittags",
            "übermorgen",
            "irgendwann",
            "morgen 22-23 Uhr",
            "",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,30}",
    ]
}

fn name_said() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "[A-ZÄÖÜ][a-zäöüß]{1,12}( [A-ZÄÖÜ][a-zäöüß]{1,12})?",
        1 => ".{0,120}",
        1 => Just(" ".to_owned()),
    ]
}

/// A Connect parameter or field: absent, null, of another type, or said.
fn field(said: impl Strategy<Value = String>, weight: u32) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => any::<i64>().prop_map(|n| Some(json!(n))),
        1 => Just(Some(json!({ "nested": true }))),
        weight => said.prop_map(|s| Some(Value::String(s))),
    ]
}

fn connect_event() -> impl Strategy<Value = Value> {
    (
        // Mostly what a flow sends, so that many requests get all the way through.
        field(contact_id(), 100),
        field(phone_said(), 30),
        field(phone_said(), 8),
        field(name_said(), 60),
        field(topic_said(), 60),
        field(window_said(), 60),
    )
        .prop_map(|(contact_id, caller, number, name, topic, window)| {
            let mut parameters = serde_json::Map::new();
            for (key, value) in [
                ("callback_number", number),
                ("name", name),
                ("topic", topic),
                ("window", window),
            ] {
                if let Some(value) = value {
                    parameters.insert(key.into(), value);
                }
            }
            let mut contact =
                json!({ "Channel": "VOICE", "CustomerEndpoint": { "Type": "TELEPHONE_NUMBER" } });
            if let Some(id) = contact_id {
                contact["ContactId"] = id;
            }
            if let Some(caller) = caller {
                contact["CustomerEndpoint"]["Address"] = caller;
            }
            json!({
                "Details": { "ContactData": contact, "Parameters": parameters },
                "Name": "ContactFlowEvent",
            })
        })
}

/// The string a Connect field reads as (what the handler sees), if any.
fn said(event: &Value, pointer: &str) -> Option<String> {
    match event.pointer(pointer)? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What a caller must be able to rely on for a request that was taken.
fn check_taken(
    h: &Harness,
    contact_id: &str,
    now: DateTime<Utc>,
    phone_said: &str,
    window_said: &str,
) -> Result<(), TestCaseError> {
    let record = h.request(contact_id).expect("a taken request is stored");
    prop_assert_eq!(record.retention, RetentionClass::Callback3m);
    prop_assert_eq!(record.expires_at, RetentionClass::Callback3m.deadline(now));
    let request: CallbackRequest = record.body().unwrap();
    prop_assert_eq!(&request.reference, &reference_for(contact_id));
    prop_assert_eq!(Ok(request.phone.clone()), phone::normalize(phone_said));
    prop_assert!(CATALOGUE.get(&request.topic).is_some());
    let window = parse_window(window_said, now).expect("a taken window parses");
    prop_assert_eq!(
        (request.window_start, request.window_end),
        (window.start, window.end)
    );
    prop_assert!(request.window_end > now && request.window_start < request.window_end);
    let (start, end) = (
        request.window_start.with_timezone(&Berlin),
        request.window_end.with_timezone(&Berlin),
    );
    prop_assert!(start.time() >= NaiveTime::from_hms_opt(BUSINESS_HOURS.0, 0, 0).unwrap());
    prop_assert!(end.time() <= NaiveTime::from_hms_opt(BUSINESS_HOURS.1, 0, 0).unwrap());
    prop_assert_eq!(h.base.sales.depth(), 1, "one message for sales");
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn a_connect_invocation_is_answered_in_the_flows_terms(event in connect_event(), now in now()) {
        let h = harness(now);
        let answer = h.handle(event.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let answer: std::collections::HashMap<String, String> =
            serde_json::from_value(answer).expect("a flat string map, as Connect requires");
        let status = answer.get("status").map(String::as_str);
        prop_assert!(answer.get("message").is_some_and(|m| !m.is_empty()), "{answer:?}");
        // Connect's ContactId as the handler reads it: a string, else none.
        let contact_id = event["Details"]["ContactData"]["ContactId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match status {
            Some("ok") => {
                prop_assert_eq!(answer.get("reference"), Some(&reference_for(&contact_id)));
                // The number to call back: the one given, else the one calling.
                let number = said(&event, "/Details/Parameters/callback_number")
                    .or_else(|| {
                        event
                            .pointer("/Details/ContactData/CustomerEndpoint/Address")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .unwrap_or_default();
                let window = said(&event, "/Details/Parameters/window").unwrap_or_default();
                check_taken(&h, &contact_id, now, &number, &window)?;
                // Connect retries: the same answer, still one request and one sales message.
                let writes = h.writes();
                let again: std::collections::HashMap<String, String> =
                    serde_json::from_value(h.handle(event.clone()).unwrap()).unwrap();
                prop_assert_eq!(&again, &answer);
                prop_assert_eq!(h.writes(), writes, "a retry writes nothing");
                prop_assert_eq!(h.base.sales.depth(), 1);
            }
            Some("invalid") => {
                let field = answer.get("field").map(String::as_str);
                prop_assert!(
                    matches!(field, Some("contact_id" | "phone" | "name" | "topic" | "window")),
                    "{answer:?}"
                );
                prop_assert_eq!(h.writes(), 0, "nothing stored for {:?}", contact_id);
                prop_assert_eq!(h.base.sales.depth(), 0);
            }
            other => prop_assert!(false, "status {other:?}: {answer:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Lex V2.
// ---------------------------------------------------------------------------------------

fn slot(value: impl Strategy<Value = String>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => Just(Some(json!({ "shape": "Scalar", "value": null }))),
        20 => (value, any::<bool>()).prop_map(|(v, interpreted)| {
            let mut value = json!({ "originalValue": v, "resolvedValues": [v] });
            if interpreted {
                value["interpretedValue"] = json!(v);
            }
            Some(json!({ "shape": "Scalar", "value": value }))
        }),
    ]
}

/// AMAZON.Date and AMAZON.Time as Lex resolves them, around `now`'s day, and nonsense.
fn lex_date_time(now: DateTime<Utc>) -> impl Strategy<Value = (String, String)> {
    let today = now.with_timezone(&Berlin).date_naive();
    (
        prop_oneof![
            6 => (-2i64..20).prop_map(move |d| (today + Duration::days(d)).format("%Y-%m-%d").to_string()),
            1 => ".{0,12}",
        ],
        prop_oneof![
            6 => (6u32..22, prop::sample::select(vec![0u32, 15, 30, 45]))
                .prop_map(|(h, m)| format!("{h:02}:{m:02}")),
            2 => prop::sample::select(vec!["MO", "AF", "EV", "NI"]).prop_map(str::to_owned),
            1 => ".{0,8}",
        ],
    )
}

fn lex_event() -> impl Strategy<Value = (DateTime<Utc>, Value)> {
    now().prop_flat_map(|now| {
        (
            Just(now),
            prop::sample::select(vec!["DialogCodeHook", "FulfillmentCodeHook"]),
            contact_id(),
            proptest::option::of(phone_said()),
            slot(name_said()),
            slot(topic_said()),
            lex_date_time(now).prop_flat_map(|(d, t)| (slot(Just(d)), slot(Just(t)))),
            slot(phone_said()),
        )
            .prop_map(
                |(now, source, session, caller, name, topic, (date, time), number)| {
                    let mut attributes = json!({ "kept": "as it was" });
                    if let Some(caller) = caller {
                        attributes["CallerNumber"] = json!(caller);
                    }
                    let mut slots = serde_json::Map::new();
                    for (key, value) in [
                        (NAME, name),
                        (TOPIC, topic),
                        (DATE, date),
                        (TIME, time),
                        (NUMBER, number),
                    ] {
                        if let Some(value) = value {
                            slots.insert(key.into(), value);
                        }
                    }
                    let event = json!({
                        "messageVersion": "1.0",
                        "invocationSource": source,
                        "sessionId": session,
                        "inputTranscript": "ja",
                        "sessionState": {
                            "sessionAttributes": attributes,
                            "activeContexts": [],
                            "intent": {
                                "name": "RequestCallback",
                                "slots": slots,
                                "state": "InProgress",
                                "confirmationState": "None",
                            },
                        },
                    });
                    (now, event)
                },
            )
    })
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn a_lex_event_gets_a_dialog_action_and_only_fulfilment_stores(
        (now, event) in lex_event(),
    ) {
        let h = harness(now);
        let response = h.handle(event.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let state = &response["sessionState"];
        let action = state["dialogAction"]["type"].as_str().unwrap_or_default();
        // What the flow set is handed back untouched.
        prop_assert_eq!(&state["sessionAttributes"]["kept"], &json!("as it was"));
        prop_assert_eq!(&state["intent"]["name"], &json!("RequestCallback"));
        let session = event["sessionId"].as_str().unwrap();
        let fulfilment = event["invocationSource"] == "FulfillmentCodeHook";
        match action {
            "Delegate" => {
                prop_assert!(!fulfilment);
                prop_assert_eq!(h.writes(), 0);
            }
            "ElicitSlot" => {
                let slot = state["dialogAction"]["slotToElicit"].as_str().unwrap_or_default();
                prop_assert!([NAME, TOPIC, TIME, NUMBER].contains(&slot), "{slot}");
                prop_assert_eq!(&state["intent"]["slots"][slot], &Value::Null, "asked again: cleared");
                prop_assert!(response["messages"][0]["content"].as_str().is_some_and(|m| !m.is_empty()));
                prop_assert_eq!(h.writes(), 0, "nothing stored");
                prop_assert_eq!(h.base.sales.depth(), 0);
            }
            "Close" => {
                prop_assert!(fulfilment);
                prop_assert_eq!(&state["intent"]["state"], &json!("Fulfilled"), "{}", response);
                prop_assert_eq!(
                    &state["sessionAttributes"]["reference"],
                    &json!(reference_for(session))
                );
                let record = h.request(session).expect("stored");
                let request: CallbackRequest = record.body().unwrap();
                prop_assert!(request.window_end > now);
                prop_assert_eq!(h.base.sales.depth(), 1);
            }
            other => prop_assert!(false, "dialog action {other:?}: {response}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Anything else.
// ---------------------------------------------------------------------------------------

/// The names of Connect's and Lex V2's events, as object keys.
const CONNECT_AND_LEX_NAMES: &[&str] = &[
    "Details",
    "ContactData",
    "ContactId",
    "CustomerEndpoint",
    "Address",
    "Parameters",
    "sessionState",
    "sessionId",
    "invocationSource",
    "intent",
    "slots",
    "name",
    "value",
    "interpretedValue",
    "Records",
    "body",
    "sessionAttributes",
    "window",
    "topic",
];

/// Values those events carry.
const CONNECT_AND_LEX_VALUES: &[&str] = &[
    "ContactFlowEvent",
    "VOICE",
    "TELEPHONE_NUMBER",
    "+4917612345678",
    "DialogCodeHook",
    "FulfillmentCodeHook",
    "morgen zwischen 14 und 16 Uhr",
    "Tarifberatung",
];

fn json_value() -> impl Strategy<Value = Value> {
    json_with(CONNECT_AND_LEX_NAMES, CONNECT_AND_LEX_VALUES, 4)
}

#[test]
fn any_json_is_answered_or_refused_as_an_unknown_event() {
    // One store for every case (opening one costs more than most cases): nothing here
    // depends on what earlier cases stored.
    let h = harness(DateTime::from_timestamp(1_795_262_400, 0).unwrap());
    let mut runner = proptest::test_runner::TestRunner::new(config(256));
    runner
        .run(&json_value(), |value| {
            match h.handle(value) {
                Ok(_) | Err(VoiceError::UnknownEvent(_)) => {}
                Err(e) => prop_assert!(false, "{e}"),
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
