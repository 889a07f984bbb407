//! The retention guarantees, proven by moving the clock: every class is readable one second
//! before its deadline, unreadable at it, and physically gone after the next sweep; the
//! sliding 13 months keep an active contact's history and the cascade removes an inactive
//! one's. Each case runs on the embedded store and on DynamoDB (moto).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Duration, Utc};
use lambda_runtime::LambdaEvent;
use retention_sweeper::{
    Ports, STOP_BEFORE_TIMEOUT, SweepConfig, SweepError, SweepReport, handle, sweep,
};
use servicekanal_shared::domain::keys::{ItemKey, Pseudonym};
use servicekanal_shared::domain::{
    Channel, Contact, Conversation, IdentifierKind, IdentityLink, Message, MessageContent,
    MessageType,
};
use servicekanal_shared::policy::privacy::all_holds;
use servicekanal_shared::policy::retention::{Anchor, RetentionClass};
use servicekanal_shared::ports::clock::Clock;
use servicekanal_shared::ports::store::{Hold, PageRequest, Record, all_pages};
use servicekanal_testing::harness::{self, Harness};
use servicekanal_testing::{FaultyStore, records, test_pseudonymizer};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};
use ulid::Ulid;

fn config() -> SweepConfig {
    SweepConfig {
        retry_backoff: std::time::Duration::from_millis(1),
        ..SweepConfig::default()
    }
}

fn ports(h: &Harness) -> Ports {
    Ports {
        store: h.store.clone(),
        clock: Arc::new(h.clock.clone()),
        config: config(),
    }
}

fn contact(wa_id: &str) -> Pseudonym {
    test_pseudonymizer().contact(wa_id).unwrap()
}

fn profile(who: &Pseudonym, class: RetentionClass, last_contact: DateTime<Utc>) -> Record {
    let body = Contact::new(
        "491700000000",
        Some("Erika Mustermann".into()),
        last_contact,
    );
    Record::new(ItemKey::profile(who), &body, class, last_contact).unwrap()
}

fn message(
    who: &Pseudonym,
    class: RetentionClass,
    at: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Record {
    let id = Ulid::from_datetime(at.into());
    let body = Message::inbound(
        id,
        format!("wamid.{id}"),
        MessageType::Text,
        MessageContent::Text {
            body: "Meine Rechnung ist zu hoch".into(),
        },
        at,
    );
    Record::new(
        ItemKey::message(who, id),
        &body,
        class,
        Anchor::With(deadline),
    )
    .unwrap()
}

/// Whether the item still exists physically: its entry in the expiry index.
async fn exists(h: &Harness, record: &Record) -> bool {
    let at = record.expires_at;
    all_pages(100, |page| h.store.list_due(at, at, page))
        .await
        .unwrap()
        .iter()
        .any(|due| due.key == record.key)
}

async fn readable(h: &Harness, record: &Record) -> bool {
    h.store.get(&record.key).await.unwrap().is_some()
}

async fn retention_matrix(h: &mut Harness) {
    let t0 = h.clock.now();
    let bot_contact = contact("491700000001");
    let service_contact = contact("491700000002");
    let items = [
        message(
            &bot_contact,
            RetentionClass::Bot7d,
            t0,
            RetentionClass::Bot7d.deadline(t0),
        ),
        profile(&service_contact, RetentionClass::Service13m, t0),
        // An hour later, so its deadline is not the profile's.
        records::survey_answer(t0 + Duration::hours(1)),
        records::callback_request("c-matrix", t0),
    ];
    for item in &items {
        h.store.create(item).await.unwrap();
    }
    let classes: HashSet<_> = items.iter().map(|r| r.retention).collect();
    assert_eq!(classes.len(), RetentionClass::ALL.len(), "every class once");
    let ports = ports(h);
    for item in &items {
        let class = item.retention;
        h.clock.set(item.expires_at - Duration::seconds(1));
        assert!(readable(h, item).await, "{class}: readable 1 s before");
        let report = sweep(&ports).await.unwrap();
        assert_eq!(report.deleted.get(&class), None, "{class}: kept before");
        assert!(readable(h, item).await, "{class}: the sweep keeps it");

        h.clock.set(item.expires_at);
        assert!(
            !readable(h, item).await,
            "{class}: unreadable at the deadline"
        );
        assert!(
            exists(h, item).await,
            "{class}: still stored until the sweep"
        );
        let report = sweep(&ports).await.unwrap();
        assert_eq!(report.deleted, BTreeMap::from([(class, 1)]), "{class}");
        assert_eq!(report.failed, 0);
        assert!(!exists(h, item).await, "{class}: physically gone");
    }
}

async fn sliding_deadline_keeps_an_active_history(h: &mut Harness) {
    let t0 = h.clock.now();
    let who = contact("491700000003");
    let first = t0;
    let old_deadline = RetentionClass::Service13m.deadline(first);
    let note = message(&who, RetentionClass::Service13m, first, old_deadline);
    let mut contact_profile = profile(&who, RetentionClass::Service13m, first);
    h.store.create(&note).await.unwrap();
    h.store.create(&contact_profile).await.unwrap();

    // Six months later the contact writes again: one write, the profile's deadline.
    let again = first + Duration::days(182);
    h.clock.set(again);
    contact_profile.expires_at = RetentionClass::Service13m.deadline(again);
    let contact_profile = h.store.update(&contact_profile).await.unwrap();
    assert_eq!(
        h.store.get(&note.key).await.unwrap().unwrap().expires_at,
        old_deadline,
        "the history is not rewritten on contact"
    );

    // A day before the old deadline the sweep moves the note to the contact's deadline.
    let ports = ports(h);
    h.clock
        .set(old_deadline - Duration::days(1) + Duration::minutes(10));
    let report = sweep(&ports).await.unwrap();
    assert_eq!(report.renewed, 1);
    h.clock.set(old_deadline + Duration::seconds(1));
    let kept = h
        .store
        .get(&note.key)
        .await
        .unwrap()
        .expect("history stays");
    assert_eq!(kept.expires_at, contact_profile.expires_at);
    assert_eq!(sweep(&ports).await.unwrap().total_deleted(), 0);

    // Thirteen months without contact: all of it goes.
    h.clock
        .set(contact_profile.expires_at - Duration::seconds(1));
    assert!(readable(h, &note).await && readable(h, &contact_profile).await);
    h.clock.set(contact_profile.expires_at);
    assert!(!readable(h, &note).await && !readable(h, &contact_profile).await);
    let report = sweep(&ports).await.unwrap();
    assert_eq!(
        report.deleted,
        BTreeMap::from([(RetentionClass::Service13m, 2)])
    );
    assert!(!exists(h, &kept).await && !exists(h, &contact_profile).await);
}

async fn a_missed_renewal_is_made_good_at_the_deadline(h: &mut Harness) {
    let t0 = h.clock.now();
    let who = contact("491700000004");
    let old_deadline = RetentionClass::Service13m.deadline(t0);
    let note = message(&who, RetentionClass::Service13m, t0, old_deadline);
    h.store.create(&note).await.unwrap();
    let later = t0 + Duration::days(100);
    h.store
        .create(&profile(&who, RetentionClass::Service13m, later))
        .await
        .unwrap();
    // No sweep ran in the renewal window (an outage): at the deadline the note is unreadable,
    // and the next sweep renews it instead of deleting an active contact's history.
    h.clock.set(old_deadline + Duration::minutes(5));
    assert!(!readable(h, &note).await);
    let report = sweep(&ports(h)).await.unwrap();
    assert_eq!((report.renewed, report.total_deleted()), (1, 0));
    assert_eq!(
        h.store.get(&note.key).await.unwrap().unwrap().expires_at,
        RetentionClass::Service13m.deadline(later)
    );
}

async fn the_contacts_deadline_takes_what_is_left_of_them(h: &mut Harness) {
    let t0 = h.clock.now();
    let who = contact("491700000005");
    let contact_profile = profile(&who, RetentionClass::Bot7d, t0);
    let deadline = contact_profile.expires_at;
    // Lisa's reply and the conversation were written a few seconds after the last message.
    let reply = message(
        &who,
        RetentionClass::Bot7d,
        t0,
        deadline + Duration::seconds(4),
    );
    let conversation = Record::new(
        ItemKey::conversation(&who, Ulid::from_datetime(t0.into())),
        &Conversation::start(Ulid::from_datetime(t0.into()), Channel::Whatsapp, t0),
        RetentionClass::Bot7d,
        Anchor::With(deadline + Duration::seconds(3)),
    )
    .unwrap();
    let held = message(
        &who,
        RetentionClass::Bot7d,
        t0 + Duration::seconds(1),
        deadline + Duration::seconds(5),
    );
    for record in [&contact_profile, &reply, &conversation, &held] {
        h.store.create(record).await.unwrap();
    }
    let hold = Hold {
        reason: "case 2026-17".into(),
        placed_at: t0,
    };
    h.store.place_hold(&held.key, hold).await.unwrap();
    let other = profile(
        &contact("491700000006"),
        RetentionClass::Bot7d,
        t0 + Duration::hours(1),
    );
    h.store.create(&other).await.unwrap();

    h.clock.set(deadline);
    let report = sweep(&ports(h)).await.unwrap();
    assert_eq!(report.deleted, BTreeMap::from([(RetentionClass::Bot7d, 3)]));
    assert_eq!(report.cascaded, 2);
    let left = h
        .store
        .query(&who.partition(), "", PageRequest::first(10))
        .await
        .unwrap();
    assert!(left.items.is_empty());
    assert!(!exists(h, &reply).await && !exists(h, &conversation).await);
    assert!(readable(h, &other).await, "other contacts untouched");
    let holds = all_holds(h.store.as_ref()).await.unwrap();
    assert_eq!(holds.len(), 1, "the held message stays");

    h.clock.set(deadline + Duration::hours(2));
    assert_eq!(
        sweep(&ports(h)).await.unwrap().total_deleted(),
        1,
        "the other profile"
    );
    // Released after its deadline: the deadline applies at once.
    h.clock.set(deadline + Duration::days(40));
    assert!(matches!(
        h.store.release_hold(&held.key).await.unwrap(),
        servicekanal_shared::ports::store::Released::Deleted(_)
    ));
    assert!(all_holds(h.store.as_ref()).await.unwrap().is_empty());
}

/// `count` bot messages of one contact whose deadlines passed, one every `spacing` back from now.
async fn due_bot_messages(h: &Harness, wa_id: &str, count: i32, spacing: Duration) -> Vec<Record> {
    let who = contact(wa_id);
    let mut records = Vec::new();
    for i in 0..count {
        let at = h.clock.now() - Duration::days(7) - spacing * i;
        let record = message(
            &who,
            RetentionClass::Bot7d,
            at,
            RetentionClass::Bot7d.deadline(at),
        );
        h.store.create(&record).await.unwrap();
        records.push(record);
    }
    records
}

async fn many_due_items_are_swept_in_pages_with_retries(h: &mut Harness) {
    // Deadlines spread over the last ten hours.
    let records = due_bot_messages(h, "491700000007", 240, Duration::seconds(150)).await;
    // Every 10th item fails once (retried within the sweep); items 3 and 4 fail for good.
    let stubborn: HashSet<ItemKey> = records[3..5].iter().map(|r| r.key.clone()).collect();
    let flaky: HashSet<ItemKey> = records.iter().step_by(10).map(|r| r.key.clone()).collect();
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let counter = calls.clone();
    let faulty = FaultyStore::new(h.store.clone(), move |operation, key| {
        if operation != "delete_due" {
            return false;
        }
        counter.fetch_add(1, Ordering::SeqCst);
        stubborn.contains(key) || (flaky.contains(key) && seen.lock().unwrap().insert(key.clone()))
    });
    let mut ports = ports(h);
    ports.store = Arc::new(faulty);
    ports.config.page_size = 25;
    ports.config.max_items = 200;

    let first = sweep(&ports).await.unwrap();
    assert!(first.more_due, "200 of 240 in one sweep");
    assert_eq!(first.total_deleted() + first.failed, 200);
    let second = handle(invocation(LAMBDA_TIMEOUT), &ports).await;
    let Err(SweepError::Incomplete(report)) = second else {
        panic!("items left after retries are an error: {second:?}");
    };
    assert_eq!(report.failed, 2, "only the stubborn two are left");
    assert_eq!(first.total_deleted() + report.total_deleted(), 238);
    assert!(!report.more_due);

    // Once the store recovers, the next sweep finishes the job.
    ports.store = h.store.clone();
    let third = handle(invocation(LAMBDA_TIMEOUT), &ports).await.unwrap();
    assert_eq!((third.total_deleted(), third.failed), (2, 0));
    for record in &records {
        assert!(!exists(h, record).await);
    }
    // Each item once, the flaky ones once more, the stubborn ones three tries in the failing
    // sweep that reached them (their deadlines are the latest, so the first sweep did not).
    assert_eq!(calls.load(Ordering::SeqCst), 240 + 24 + 2 * 2);
}

/// The sweeper's timeout in template.yaml.
const LAMBDA_TIMEOUT: StdDuration = StdDuration::from_secs(300);

/// The scheduled event (events/retention-sweeper/schedule.json) as Lambda hands it over, with
/// `time_left` until the invocation's deadline.
fn invocation(time_left: StdDuration) -> LambdaEvent<EventBridgeEvent> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/retention-sweeper/schedule.json"
    );
    let event = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let deadline = SystemTime::now() + time_left;
    let mut context = lambda_runtime::Context::default();
    context.deadline = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    LambdaEvent::new(event, context)
}

async fn a_sweep_close_to_the_lambda_timeout_stops_after_its_page(h: &mut Harness) {
    let records = due_bot_messages(h, "491700000008", 60, Duration::minutes(1)).await;
    let mut ports = ports(h);
    ports.config.page_size = 25;

    // Less time left than the sweeper keeps in reserve: a page's worth, then a clean stop
    // (the index pages by deadline hour and shard, so "a page's worth" may span a few).
    let short = STOP_BEFORE_TIMEOUT / 2;
    let first = handle(invocation(short), &ports).await.unwrap();
    assert!(first.more_due);
    assert!(
        (25..50).contains(&first.total_deleted()),
        "{}",
        first.total_deleted()
    );
    let backlog: serde_json::Value =
        serde_json::from_str(&retention_sweeper::metrics_lines(&first)[0]).unwrap();
    assert_eq!(backlog["SweepBacklog"], 1);

    let second = handle(invocation(LAMBDA_TIMEOUT), &ports).await.unwrap();
    assert!(!second.more_due);
    assert_eq!(first.total_deleted() + second.total_deleted(), 60);
    for record in &records {
        assert!(!exists(h, record).await);
    }
}

/// An identity link, and the profile of a contact merged into another, live as long as the
/// contact they belong to: due a day ahead, they move to its deadline, whatever their class.
async fn links_and_merged_profiles_slide_with_their_contact(h: &mut Harness) {
    let t0 = h.clock.now();
    let kept = contact("491700000007");
    let merged = contact("491700000008");
    let link_key = ItemKey::identity_link(&test_pseudonymizer().user("DE.77153209884").unwrap());
    let link = Record::new(
        link_key,
        &IdentityLink {
            contact: kept.clone(),
            identifier: IdentifierKind::UserId,
        },
        RetentionClass::Bot7d,
        t0,
    )
    .unwrap()
    .owned_by(&kept);
    let merged_profile = profile(&merged, RetentionClass::Bot7d, t0).owned_by(&kept);
    h.store.create(&link).await.unwrap();
    h.store.create(&merged_profile).await.unwrap();
    // The kept contact writes on day 5: its profile's deadline is day 12.
    let active = t0 + Duration::days(5);
    h.store
        .create(&profile(&kept, RetentionClass::Bot7d, active))
        .await
        .unwrap();

    let ports = ports(h);
    h.clock
        .set(link.expires_at - Duration::days(1) + Duration::minutes(10));
    let report = sweep(&ports).await.unwrap();
    assert_eq!(report.renewed, 2, "{report:?}");
    h.clock.set(link.expires_at + Duration::hours(1));
    assert!(readable(h, &link).await && readable(h, &merged_profile).await);
    // With the contact gone quiet, all three go at its deadline.
    let deadline = RetentionClass::Bot7d.deadline(active);
    h.clock.set(deadline);
    let report = sweep(&ports).await.unwrap();
    assert_eq!(report.total_deleted(), 3, "{report:?}");
    assert!(!exists(h, &link).await);
}

servicekanal_testing::for_each_adapter!(
    links_and_merged_profiles_slide_with_their_contact,
    retention_matrix,
    sliding_deadline_keeps_an_active_history,
    a_missed_renewal_is_made_good_at_the_deadline,
    the_contacts_deadline_takes_what_is_left_of_them,
    many_due_items_are_swept_in_pages_with_retries,
    a_sweep_close_to_the_lambda_timeout_stops_after_its_page,
);

#[tokio::test]
async fn the_scheduled_event_runs_a_sweep_and_reports_counts_only() {
    let h = harness::embedded().await;
    let t0 = h.clock.now();
    h.store.create(&records::survey_answer(t0)).await.unwrap();
    h.clock.set(RetentionClass::Survey13m.deadline(t0));
    let report: SweepReport = handle(invocation(LAMBDA_TIMEOUT), &ports(&h))
        .await
        .unwrap();
    assert_eq!(
        report.deleted,
        BTreeMap::from([(RetentionClass::Survey13m, 1)])
    );
    let lines = retention_sweeper::metrics_lines(&report);
    assert_eq!(lines.len(), 1 + RetentionClass::ALL.len());
    let per_class: Vec<serde_json::Value> = lines[1..]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let survey = per_class
        .iter()
        .find(|l| l["RetentionClass"] == "survey-13m")
        .unwrap();
    assert_eq!(survey["ItemsDeleted"], 1);
    assert_eq!(
        survey["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "Servicekanal/Retention"
    );
    let text = lines.join("\n");
    assert!(
        !text.contains("Schnelle Hilfe") && !text.contains("SURVEY#"),
        "{text}"
    );
}

#[test]
fn settings_come_from_the_environment_and_bad_ones_are_refused() {
    let config = SweepConfig::from_lookup(|name| match name {
        "SWEEP_INTERVAL_MINUTES" => Some("5".into()),
        "SWEEP_LOOKBACK_HOURS" => Some("72".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(config.interval, Duration::minutes(5));
    assert_eq!(config.lookback, Duration::hours(72));
    assert_eq!(config.max_items, SweepConfig::default().max_items);
    let bad = SweepConfig::from_lookup(|name| (name == "SWEEP_MAX_ITEMS").then(|| "-3".into()));
    assert_eq!(
        bad.unwrap_err().to_string(),
        "SWEEP_MAX_ITEMS must be a positive whole number, got \"-3\""
    );
}
