//! What only the embedded store does: stand in for DynamoDB's TTL, survive a restart, and
//! keep its change records no longer than a DynamoDB stream does.

use servicekanal_testing::harness as support;

use chrono::Duration;
use servicekanal_shared::domain::Contact;
use servicekanal_shared::domain::keys::{ItemKey, Pseudonymizer};
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::{Clock, ManualClock};
use servicekanal_shared::ports::store::embedded::EmbeddedStore;
use servicekanal_shared::ports::store::{ChangeFeed, Record, Store, is_ttl_removal, key_of_change};
use std::sync::Arc;

fn profile(wa_id: &str, clock: &ManualClock, class: RetentionClass) -> Record {
    let p = Pseudonymizer::new(vec![1u8; 32])
        .unwrap()
        .contact(wa_id)
        .unwrap();
    let contact = Contact::new(wa_id, None, clock.now());
    Record::new(ItemKey::profile(&p), &contact, class, clock.now()).unwrap()
}

#[tokio::test]
async fn ttl_removals_are_marked_with_dynamodbs_service_identity() {
    let mut h = support::embedded().await;
    let store = h.embedded.clone().unwrap();
    let short = profile("491700000001", &h.clock, RetentionClass::Bot7d);
    let long = profile("491700000002", &h.clock, RetentionClass::Service13m);
    h.store.create(&short).await.unwrap();
    h.store.create(&long).await.unwrap();
    h.drain_feed(2).await;

    h.clock.advance(Duration::days(7) - Duration::seconds(1));
    assert_eq!(
        store.expire_by_ttl().unwrap(),
        0,
        "nothing before the deadline"
    );
    h.clock.advance(Duration::seconds(1));
    assert_eq!(store.expire_by_ttl().unwrap(), 1);

    let events = h.drain_feed(1).await;
    assert_eq!(events.len(), 1);
    assert!(is_ttl_removal(&events[0]));
    assert_eq!(key_of_change(&events[0]).unwrap(), short.key);
    let identity = events[0].user_identity.as_ref().unwrap();
    assert_eq!(
        (identity.type_.as_str(), identity.principal_id.as_str()),
        ("Service", "dynamodb.amazonaws.com")
    );
    assert!(h.store.get(&long.key).await.unwrap().is_some());
}

#[tokio::test]
async fn data_and_feed_position_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(support::start_time());
    let record = profile("491700000003", &clock, RetentionClass::Service13m);
    let position = {
        let store = EmbeddedStore::open(dir.path(), Arc::new(clock.clone())).unwrap();
        store.create(&record).await.unwrap();
        let mut feed = store.change_feed(None);
        assert_eq!(feed.poll(10).await.unwrap().len(), 1);
        feed.position()
    };
    let store = EmbeddedStore::open(dir.path(), Arc::new(clock.clone())).unwrap();
    assert_eq!(store.get(&record.key).await.unwrap(), Some(record.clone()));
    let typed: &dyn Store = &store;
    let loaded = typed.load::<Contact>(&record.key).await.unwrap();
    assert_eq!(loaded.map(|l| l.body), Some(record.body().unwrap()));
    store.delete(&record.key).await.unwrap();
    let mut feed = store.change_feed(Some(position));
    let events = feed.poll(10).await.unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| e.event_name.as_str())
            .collect::<Vec<_>>(),
        ["REMOVE"]
    );
}

/// The raw bytes the store keeps for `key`, and a way to replace them: what a data folder of
/// an earlier release holds.
fn kept_bytes(dir: &std::path::Path, key: &ItemKey, replace_with: Option<&[u8]>) -> Vec<u8> {
    use redb::ReadableTable;
    let items = redb::TableDefinition::<&str, &[u8]>::new("items");
    let key = format!("{}\0{}", key.pk, key.sk);
    let db = redb::Database::open(dir.join("store.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    let kept = {
        let mut table = txn.open_table(items).unwrap();
        if let Some(bytes) = replace_with {
            table.insert(key.as_str(), bytes).unwrap();
        }
        table.get(key.as_str()).unwrap().unwrap().value().to_vec()
    };
    txn.commit().unwrap();
    kept
}

#[tokio::test]
async fn items_an_earlier_release_kept_as_dynamodb_json_are_read_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(support::start_time());
    let record = profile("491700000004", &clock, RetentionClass::Bot7d);
    {
        let store = EmbeddedStore::open(dir.path(), Arc::new(clock.clone())).unwrap();
        store.create(&record).await.unwrap();
    }
    assert_eq!(
        kept_bytes(dir.path(), &record.key, None)[0],
        0x01,
        "the binary form"
    );
    // Until 2026-12 the store kept each item as DynamoDB JSON.
    let json = serde_json::to_vec(&record.to_item()).unwrap();
    kept_bytes(dir.path(), &record.key, Some(&json));

    let store = EmbeddedStore::open(dir.path(), Arc::new(clock.clone())).unwrap();
    assert_eq!(store.get(&record.key).await.unwrap(), Some(record.clone()));
    let typed: &dyn Store = &store;
    let loaded = typed.load::<Contact>(&record.key).await.unwrap();
    assert_eq!(loaded.map(|l| l.body), Some(record.body().unwrap()));
    let mut changed = record.clone();
    let mut contact: Contact = changed.body().unwrap();
    contact.profile_name = Some("Erika".into());
    changed.set_body(&contact).unwrap();
    let updated = store.update(&changed).await.unwrap();
    assert_eq!(store.get(&record.key).await.unwrap(), Some(updated.clone()));
    let changes = store.change_feed(None).poll(10).await.unwrap();
    let modified = changes.last().expect("the update's change");
    assert_eq!(modified.event_name, "MODIFY");
    assert_eq!(
        modified.change.old_image,
        record.to_item(),
        "the item as JSON kept it"
    );
    assert_eq!(modified.change.new_image, updated.to_item());
    drop(store);
    assert_eq!(
        kept_bytes(dir.path(), &record.key, None)[0],
        0x01,
        "written again in the binary form"
    );
}

#[tokio::test]
async fn change_records_are_kept_for_24_hours_like_a_stream() {
    let h = support::embedded().await;
    let store = h.embedded.clone().unwrap();
    h.store
        .create(&profile("491700000004", &h.clock, RetentionClass::Bot7d))
        .await
        .unwrap();
    h.clock.advance(Duration::hours(23));
    let second_at = h.clock.now();
    h.store
        .create(&profile("491700000005", &h.clock, RetentionClass::Bot7d))
        .await
        .unwrap();
    let events = store.change_feed(None).poll(10).await.unwrap();
    assert_eq!(events.len(), 2, "a change of 23 hours ago is still there");
    h.clock.advance(Duration::hours(2));
    h.store
        .create(&profile("491700000006", &h.clock, RetentionClass::Bot7d))
        .await
        .unwrap();
    let events = store.change_feed(None).poll(10).await.unwrap();
    let times: Vec<_> = events
        .iter()
        .map(|e| e.change.approximate_creation_date_time)
        .collect();
    assert_eq!(
        times,
        [second_at, h.clock.now()],
        "the change of 25 hours ago (with its personal data) is gone"
    );
}

#[tokio::test]
async fn readable_items_list_everything_until_its_deadline() {
    let h = support::embedded().await;
    let store = h.embedded.clone().unwrap();
    let short = profile("491700000011", &h.clock, RetentionClass::Bot7d);
    let long = profile("491700000012", &h.clock, RetentionClass::Service13m);
    h.store.create(&short).await.unwrap();
    h.store.create(&long).await.unwrap();
    let mut keys: Vec<_> = store
        .readable_items()
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    keys.sort();
    let mut expected = vec![short.key.clone(), long.key.clone()];
    expected.sort();
    assert_eq!(keys, expected);
    h.clock.advance(Duration::days(7));
    let left: Vec<_> = store
        .readable_items()
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(
        left,
        [long.key],
        "past its deadline, the bot item is gone from view"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_commit_in_groups_each_on_its_own_condition() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(support::start_time());
    let store = Arc::new(EmbeddedStore::open(dir.path(), Arc::new(clock.clone())).unwrap());
    // 40 creates of one key race 60 creates of their own keys: one of the 40 wins, and the
    // losers' failures roll back nothing of the others in their group.
    let same = profile("491799999999", &clock, RetentionClass::Service13m);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (store, record) = (
            store.clone(),
            if i % 5 < 2 {
                same.clone()
            } else {
                profile(
                    &format!("4917000{i:05}"),
                    &clock,
                    RetentionClass::Service13m,
                )
            },
        );
        tasks.push(tokio::spawn(async move { store.create(&record).await }));
    }
    let mut created = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => created += 1,
            Err(servicekanal_shared::ports::store::StoreError::AlreadyExists(key)) => {
                assert_eq!(key, same.key);
                refused += 1;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!((created, refused), (61, 39));
    let mut feed = store.change_feed(None);
    assert_eq!(feed.poll(1000).await.unwrap().len(), 61, "one change each");
    drop((feed, store));
    // Durable: all of them are there after a restart.
    let reopened = EmbeddedStore::open(dir.path(), Arc::new(clock.clone())).unwrap();
    assert_eq!(reopened.readable_items().unwrap().len(), 61);
}

/// The local stack reaches the store through the fault switch: a typed read goes through it to
/// the store's read, and fails where a `get` is planned to fail.
#[tokio::test]
async fn typed_reads_pass_the_fault_switch_as_reads() {
    let h = support::embedded().await;
    let record = profile("491700000021", &h.clock, RetentionClass::Bot7d);
    h.store.create(&record).await.unwrap();
    let failing = record.key.clone();
    let switch: Arc<dyn Store> = Arc::new(servicekanal_testing::FaultyStore::new(
        h.store.clone(),
        move |operation, key| operation == "get" && *key == failing,
    ));
    assert!(switch.load::<Contact>(&record.key).await.is_err());
    let other = profile("491700000022", &h.clock, RetentionClass::Bot7d);
    h.store.create(&other).await.unwrap();
    let loaded = switch.load::<Contact>(&other.key).await.unwrap().unwrap();
    assert_eq!(loaded.body, other.body::<Contact>().unwrap());
}

/// Reads share one snapshot of the items while nothing is committed: a read after any commit
/// (through another handle of the same store, or TTL's removal) sees it.
#[tokio::test]
async fn a_read_after_a_commit_sees_it_whichever_handle_committed() {
    let h = support::embedded().await;
    let store = h.embedded.clone().unwrap();
    let other = store.clone();
    let mut record = profile("491700000031", &h.clock, RetentionClass::Bot7d);
    assert_eq!(store.get(&record.key).await.unwrap(), None);
    other.create(&record).await.unwrap();
    assert_eq!(store.get(&record.key).await.unwrap(), Some(record.clone()));

    let mut contact: Contact = record.body().unwrap();
    contact.profile_name = Some("Erika".into());
    record.set_body(&contact).unwrap();
    let updated = other.update(&record).await.unwrap();
    let typed: &dyn Store = &store;
    let loaded = typed.load::<Contact>(&record.key).await.unwrap().unwrap();
    assert_eq!(loaded.body, contact);
    assert_eq!(store.get(&record.key).await.unwrap(), Some(updated));

    h.clock.advance(Duration::days(8));
    assert_eq!(other.expire_by_ttl().unwrap(), 1);
    h.clock.advance(-Duration::days(8));
    assert_eq!(
        store.get(&record.key).await.unwrap(),
        None,
        "removed by TTL"
    );
}
