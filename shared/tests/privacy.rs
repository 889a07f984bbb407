//! Erasure and access requests on both store adapters (embedded, DynamoDB through moto): a
//! person's partition and what they own elsewhere, found through the owner index.

use servicekanal_testing::harness as support;

use chrono::Duration;
use servicekanal_shared::domain::keys::ItemKey;
use servicekanal_shared::domain::messages;
use servicekanal_shared::domain::{
    Actor, CallbackRequest, CallbackStatus, Channel, Contact, DeliveryMarker, DeliveryStatus,
    Direction, Message, MessageContent, MessageType, OpenCallback, SurveyAnswer,
};
use servicekanal_shared::policy::privacy::{self, PersonRef, find_person};
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::Clock;
use servicekanal_shared::ports::store::{Hold, Record};
use servicekanal_testing::test_pseudonymizer;
use std::collections::BTreeMap;
use support::Harness;
use ulid::Ulid;

async fn erase_and_export_cover_everything_of_the_person(h: &mut Harness) {
    let now = h.clock.now();
    let pseudonymizer = test_pseudonymizer();
    let anna = pseudonymizer.contact("491701234567").unwrap();
    let ben = pseudonymizer.contact("491717654321").unwrap();

    let profile = Record::new(
        ItemKey::profile(&anna),
        &Contact::new("491701234567", Some("Anna Beispiel".into()), now),
        RetentionClass::Service13m,
        now,
    )
    .unwrap();
    let answer = |id: Ulid, comment: &str| SurveyAnswer {
        id,
        channel: Channel::Whatsapp,
        answered_at: now,
        score: Some(2),
        solved: Some(false),
        comment: Some(comment.into()),
        handed_over: true,
        topics: vec![],
        complete: true,
    };
    let annas_answer = Ulid::new();
    let survey = Record::new(
        ItemKey::survey_answer(annas_answer),
        &answer(annas_answer, "Zu lange gewartet"),
        RetentionClass::Survey13m,
        now,
    )
    .unwrap()
    .owned_by(&anna);
    let request = CallbackRequest {
        connect_contact_id: "d1e2f3".into(),
        reference: "RB-ABCDEF".into(),
        phone: "+491701234567".into(),
        name: Some("Anna Beispiel".into()),
        topic: "devices".into(),
        window_start: now + Duration::hours(20),
        window_end: now + Duration::hours(22),
        requested_at: now,
        status: CallbackStatus::Open,
        done_at: None,
    };
    let callback = Record::new(
        ItemKey::callback_request("d1e2f3"),
        &request,
        RetentionClass::Callback3m,
        now,
    )
    .unwrap()
    .owned_by(&anna);
    let pointer = Record::new(
        ItemKey::open_callback(request.window_start, "d1e2f3"),
        &OpenCallback {
            connect_contact_id: "d1e2f3".into(),
            reference: "RB-ABCDEF".into(),
        },
        RetentionClass::Callback3m,
        now,
    )
    .unwrap()
    .owned_by(&anna);
    let marker = Record::new(
        pseudonymizer.delivery_marker("wamid.ANNA1"),
        &DeliveryMarker {
            first_seen_at: now,
            message: ItemKey::profile(&anna),
            queued: true,
        },
        RetentionClass::Bot7d,
        now,
    )
    .unwrap()
    .owned_by(&anna);
    let bens_answer = Ulid::new();
    let bens = Record::new(
        ItemKey::survey_answer(bens_answer),
        &answer(bens_answer, "Alles gut"),
        RetentionClass::Survey13m,
        now,
    )
    .unwrap()
    .owned_by(&ben);
    for record in [&profile, &survey, &callback, &pointer, &marker, &bens] {
        h.store.create(record).await.unwrap();
    }
    let hold = Hold {
        reason: "case 17".into(),
        placed_at: now,
    };
    h.store.place_hold(&callback.key, hold).await.unwrap();
    // An agent's reply sent to her: the message and the delivery marker of what was sent.
    let reply = Message {
        id: Ulid::new(),
        conversation_id: None,
        wamid: Some("wamid.TO-ANNA".into()),
        direction: Direction::Outbound,
        actor: Actor::Agent,
        message_type: MessageType::Text,
        content: MessageContent::Text {
            body: "Ihre Kündigung ist erfasst".into(),
        },
        at: now,
        delivery: DeliveryStatus::Accepted,
        error_code: None,
        handling: None,
        facts: None,
        pricing: None,
    };
    messages::record_outbound(
        h.store.as_ref(),
        &pseudonymizer,
        &anna,
        &reply,
        RetentionClass::Service13m,
    )
    .await
    .unwrap();
    let anna_ref = PersonRef::Phone("0170 1234567".into());
    let person = find_person(h.store.as_ref(), &pseudonymizer, &anna_ref)
        .await
        .unwrap();
    assert_eq!(
        person.contacts,
        vec![anna.clone()],
        "any spelling finds her"
    );

    let document = privacy::export(h.store.as_ref(), &person, "0170 1234567", now)
        .await
        .unwrap();
    assert_eq!(document.items, 7);
    assert_eq!(
        document.data["delivery-marker"].len(),
        2,
        "received and sent"
    );
    let json = serde_json::to_value(&document).unwrap();
    assert_eq!(
        json["data"]["survey-answer"][0]["content"]["comment"],
        "Zu lange gewartet"
    );
    assert_eq!(
        json["data"]["callback-request"][0]["legal_hold"]["reason"],
        "case 17"
    );
    assert!(!json.to_string().contains("Alles gut"), "not Ben's");

    let report = privacy::erase(h.store.as_ref(), &person).await.unwrap();
    assert_eq!(
        report.per_class,
        BTreeMap::from([
            (RetentionClass::Bot7d, 1),
            (RetentionClass::Service13m, 3),
            (RetentionClass::Survey13m, 1),
            (RetentionClass::Callback3m, 1),
        ])
    );
    assert_eq!(report.held, 1, "the held request stays");
    let after = privacy::export(h.store.as_ref(), &person, "0170 1234567", now)
        .await
        .unwrap();
    assert_eq!(after.items, 1);
    assert!(after.data.contains_key("callback-request"));
    assert!(
        h.store.get(&bens.key).await.unwrap().is_some(),
        "Ben untouched"
    );
}

servicekanal_testing::for_each_adapter!(erase_and_export_cover_everything_of_the_person);

#[test]
fn a_number_that_is_none_is_a_typed_error() {
    let error = PersonRef::Phone("keine Nummer".into())
        .identifier()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot read the phone number: not a phone number"
    );
}
