//! Data-subject rights and retention on the whole local stack, as a person uses it: Erika
//! chats on WhatsApp, answers the survey and leaves a callback request by phone. Her export
//! shows all of it; erasure (the ops command's path and the chat's privacy flow) removes all of
//! it while the statistics stay; a legal hold blocks use and deletion until released; and the
//! sliding 13 months keep an active customer's history.

use chrono::Duration;
use servicekanal_cli::stack::Call;
use servicekanal_shared::domain::keys::ItemKey;
use servicekanal_shared::domain::messages::{AgentAct, AgentAction, DeskEvent, Handover};
use servicekanal_shared::domain::survey::ids as survey_ids;
use servicekanal_shared::lisa::dialogue::ids;
use servicekanal_shared::policy::privacy;
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::store::{Hold, Record, Store};
use std::collections::BTreeMap;
use ulid::Ulid;

use crate::common;

use common::{ERIKA, Phone};

/// Her number as an ops person would type it.
const ERIKA_WRITTEN: &str = "+49 176 12345678";
const COMMENT: &str = "Sehr freundlich, danke!";

/// A short chat ended by goodbye, the survey answered with a comment, and a call from the
/// same number leaving a callback request; Max calls too.
async fn erika_everywhere() -> Phone {
    let mut phone = Phone::new();
    phone.say("Hallo").await;
    phone.tap(ids::KIND_CUSTOMER).await;
    phone.say("Danke, tschüss!").await;
    phone.pick(&format!("{}4", survey_ids::SCORE_PREFIX)).await;
    phone.tap(survey_ids::SOLVED_YES).await;
    phone.say(COMMENT).await;
    for (caller, name) in [
        ("+4917612345678", "Erika Mustermann"),
        ("+4915199998888", "Max Muster"),
    ] {
        let answer = phone
            .stack
            .call(&Call {
                caller: caller.into(),
                name: Some(name.into()),
                topic: Some("Geräte".into()),
                window: Some("morgen zwischen 10 und 12 Uhr".into()),
                callback_number: None,
            })
            .await
            .unwrap();
        assert_eq!(answer["status"], "ok", "{answer}");
    }
    phone
}

/// Every readable item that belongs to Erika: her partition, what she owns elsewhere, and
/// what her calls left (owned by her number's caller pseudonym).
fn erikas(phone: &Phone) -> Vec<Record> {
    let me = phone.contact();
    let caller = phone.stack.bot.pseudonymizer.caller(ERIKA).unwrap();
    phone
        .stack
        .store
        .readable_items()
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.key.pk == me.partition()
                || r.owner.as_deref() == Some(me.as_str())
                || r.owner.as_deref() == Some(caller.as_str())
        })
        .collect()
}

fn kinds(records: &[Record]) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for r in records {
        *kinds.entry(r.kind.to_string()).or_default() += 1;
    }
    kinds
}

#[tokio::test]
async fn export_shows_everything_and_erasure_removes_it_in_every_store() {
    let phone = erika_everywhere().await;
    let stack = &phone.stack;
    let store = stack.store.as_ref();
    let erika = stack.person(ERIKA_WRITTEN).await.unwrap();
    assert_eq!(
        erika.contacts,
        vec![phone.contact()],
        "any spelling of the number finds her"
    );
    let stored = kinds(&erikas(&phone));
    for kind in [
        "contact",
        "conversation",
        "message",
        "delivery-marker",
        "survey-answer",
        "callback-request",
        "open-callback",
    ] {
        assert!(stored.contains_key(kind), "{kind} stored: {stored:?}");
    }

    // Access: one readable document with all of it.
    let document = privacy::export(store, &erika, ERIKA_WRITTEN, stack.now())
        .await
        .unwrap();
    let json = serde_json::to_value(&document).unwrap();
    assert_eq!(document.items, stored.values().sum::<usize>());
    assert_eq!(
        json["data"]["contact"][0]["content"]["profile_name"],
        "Erika Mustermann"
    );
    assert_eq!(
        json["data"]["survey-answer"][0]["content"]["comment"],
        COMMENT
    );
    assert_eq!(
        json["data"]["survey-answer"][0]["retention_class"],
        "survey-13m"
    );
    assert_eq!(
        json["data"]["callback-request"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        json["data"]["callback-request"][0]["content"]["name"],
        "Erika Mustermann"
    );
    assert!(
        json["data"]["message"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"]["content"]["text"]["body"] == "Danke, tschüss!"),
        "{json}"
    );
    assert!(
        !json.to_string().contains("Max Muster"),
        "nobody else's data"
    );

    // Erasure: every item of hers, counted per class; Max's request stays.
    let report = privacy::erase(store, &erika).await.unwrap();
    assert_eq!(report.total(), stored.values().sum::<usize>() as u64);
    assert_eq!(report.per_class[&RetentionClass::Survey13m], 1);
    assert_eq!(
        report.per_class[&RetentionClass::Callback3m],
        2,
        "request and sales-list entry"
    );
    assert_eq!(report.held, 0);
    assert!(erikas(&phone).is_empty());
    let open = voice_intake::list_open(store).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].name.as_deref(), Some("Max Muster"));
    assert_eq!(
        privacy::export(store, &erika, ERIKA_WRITTEN, stack.now())
            .await
            .unwrap()
            .items,
        0
    );
    assert_eq!(
        privacy::erase(store, &erika).await.unwrap().total(),
        0,
        "nothing more"
    );

    // The statistics stay (nothing in them leads to her) and record the erasure.
    stack.export_stats().await.unwrap();
    let stats = stack.statistics().await.unwrap();
    assert_eq!(
        stats["survey_responses"]["rows"].as_array().unwrap().len(),
        1
    );
    let erased: i64 = stats["deletions"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["reason"] == "erasure")
        .map(|r| r["items"].as_i64().unwrap())
        .sum();
    assert!(erased >= report.total() as i64 - 4, "{stats}");
}

#[tokio::test]
async fn the_chats_privacy_flow_erases_her_calls_and_survey_answers_too() {
    let mut phone = erika_everywhere().await;
    phone.say("Welche Daten speichert ihr über mich?").await;
    phone.tap(ids::PRIVACY_ERASE).await;
    let left = erikas(&phone);
    assert!(left.is_empty(), "{:?}", kinds(&left));
    assert_eq!(
        voice_intake::list_open(phone.stack.store.as_ref())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_legal_hold_blocks_use_and_deletion_until_released() {
    let mut phone = erika_everywhere().await;
    let store_handle = phone.stack.store.clone();
    let store = store_handle.as_ref();
    let erika = phone.stack.person(ERIKA).await.unwrap();
    let before = erikas(&phone).len();
    let hold = Hold {
        reason: "Az. 4 O 117/26".into(),
        placed_at: phone.stack.now(),
    };
    let placed = privacy::hold_person(store, &erika, &hold).await.unwrap();
    assert_eq!(placed.items.values().sum::<u64>() as usize, before);

    // Blocked from use: nothing readable, not in the sales list, listed with its reason.
    assert!(erikas(&phone).is_empty());
    assert_eq!(
        voice_intake::list_open(store).await.unwrap().len(),
        1,
        "only Max"
    );
    let views = privacy::hold_views(store).await.unwrap();
    assert_eq!(views.len(), before);
    assert!(views.iter().all(|v| v.reason == "Az. 4 O 117/26"));
    assert!(
        views
            .iter()
            .any(|v| v.reference.as_deref().is_some_and(|r| r.starts_with("RB-")))
    );
    // Her next message is not processed against the blocked data.
    assert!(phone.say("Hallo?").await.is_empty());

    // Blocked from deletion: erasure keeps it, and so does every deadline.
    let stack = &phone.stack;
    let report = privacy::erase(store, &erika).await.unwrap();
    assert_eq!(report.held as usize, before);
    phone.clock.advance(Duration::days(30 * 14));
    let swept = stack.sweep().await.unwrap();
    assert_eq!(swept.failed, 0);
    assert_eq!(privacy::hold_views(store).await.unwrap().len(), before);
    let document = privacy::export(store, &erika, ERIKA, stack.now())
        .await
        .unwrap();
    assert!(
        document
            .data
            .values()
            .flatten()
            .all(|i| i.legal_hold.is_some())
    );

    // Released: the deadlines apply again, long past now: deleted at once.
    let released = privacy::release_person(store, &erika).await.unwrap();
    assert_eq!(released.deleted as usize, before);
    assert!(privacy::hold_views(store).await.unwrap().is_empty());
    assert_eq!(
        privacy::export(store, &erika, ERIKA, stack.now())
            .await
            .unwrap()
            .items,
        0
    );
}

#[tokio::test]
async fn thirteen_months_slide_with_every_contact_and_then_everything_goes() {
    let mut phone = Phone::new();
    phone.say("Hallo").await;
    phone.tap(ids::KIND_CUSTOMER).await;
    phone.say("Ich möchte mit einem Mitarbeiter sprechen").await;
    phone.say("K1002003").await;
    phone.say("Sommer2026!").await;
    let events = phone.stack.desk_events().await.unwrap();
    let Some(DeskEvent::Handover(Handover { conversation, .. })) = events.first() else {
        panic!("handed over: {events:?}");
    };
    let note_id = Ulid::from_datetime(phone.stack.now().into());
    phone
        .stack
        .agent_acts(AgentAction {
            action_id: note_id,
            conversation: conversation.clone(),
            agent: "agent-07".into(),
            act: AgentAct::Note {
                text: "Tarifwechsel auf L zum 1.1. vereinbart".into(),
            },
        })
        .await
        .unwrap();
    let note = ItemKey::message(&phone.contact(), note_id);
    let first_deadline = phone
        .stack
        .store
        .get(&note)
        .await
        .unwrap()
        .unwrap()
        .expires_at;
    assert_eq!(first_deadline, phone.profile().await.unwrap().0.expires_at);

    // Half a year later she writes again: her service history now lasts 13 months from then.
    phone.clock.advance(Duration::days(182));
    phone.say("Hallo, ich habe noch eine Frage").await;
    let (profile, _) = phone.profile().await.unwrap();
    assert!(profile.expires_at > first_deadline);

    // 13 months after the first contact (the sweeper runs, as every 15 minutes in AWS).
    phone
        .clock
        .set(first_deadline - Duration::days(1) + Duration::minutes(10));
    assert!(phone.stack.sweep().await.unwrap().renewed >= 1);
    phone.clock.set(first_deadline + Duration::seconds(1));
    phone.stack.sweep().await.unwrap();
    let kept = phone
        .stack
        .store
        .get(&note)
        .await
        .unwrap()
        .expect("history stays");
    assert_eq!(kept.expires_at, profile.expires_at);

    // 13 months without contact: all of it goes, physically.
    phone.clock.set(profile.expires_at - Duration::seconds(1));
    assert!(phone.stack.store.get(&note).await.unwrap().is_some());
    phone.clock.set(profile.expires_at);
    assert!(phone.stack.store.get(&note).await.unwrap().is_none());
    let report = phone.stack.sweep().await.unwrap();
    assert!(
        report.deleted[&RetentionClass::Service13m] >= 3,
        "{report:?}"
    );
    assert!(erikas(&phone).is_empty());
    let due = phone
        .stack
        .store
        .list_due(
            profile.expires_at - Duration::days(400),
            profile.expires_at + Duration::days(1),
            servicekanal_shared::ports::store::PageRequest::first(100),
        )
        .await
        .unwrap();
    assert!(
        due.items
            .iter()
            .all(|d| d.key.pk != phone.contact().partition()),
        "physically gone"
    );
}
