//! The contract of the `Store` port and its change feed, run unchanged against every adapter:
//! the embedded store, and DynamoDB through moto's server (`SERVICEKANAL_MOTO_URL`, set by
//! `scripts/test`). Every case below runs once per adapter.

use servicekanal_testing::harness as support;

use chrono::{DateTime, Duration, Utc};
use servicekanal_shared::domain::keys::{ItemKey, MESSAGE_PREFIX, Pseudonymizer};
use servicekanal_shared::domain::{CallbackRequest, Contact, Message, MessageContent, MessageType};
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::Clock;
use servicekanal_shared::ports::store::{
    DueItem, Hold, MAX_TRANSACTION_WRITES, PageRequest, Record, Released, StoreError, Stored,
    Write, is_ttl_removal,
};
use servicekanal_testing::records;
use std::collections::{BTreeMap, HashSet};
use support::Harness;
use ulid::Ulid;

fn pseudonymizer() -> Pseudonymizer {
    Pseudonymizer::new(*b"contract-suite-key-contract-suite-key").unwrap()
}

fn contact_record(wa_id: &str, at: DateTime<Utc>, class: RetentionClass) -> Record {
    let pseudonym = pseudonymizer().contact(wa_id).unwrap();
    let contact = Contact::new(wa_id, Some("Erika Mustermann".into()), at);
    Record::new(ItemKey::profile(&pseudonym), &contact, class, at).unwrap()
}

fn message_record(wa_id: &str, at: DateTime<Utc>, text: &str) -> Record {
    let pseudonym = pseudonymizer().contact(wa_id).unwrap();
    let id = Ulid::from_parts(at.timestamp_millis() as u64, u128::from(text.len() as u32));
    let message = Message::inbound(
        id,
        format!("wamid.{id}"),
        MessageType::Text,
        MessageContent::Text { body: text.into() },
        at,
    );
    Record::new(
        ItemKey::message(&pseudonym, id),
        &message,
        RetentionClass::Bot7d,
        at,
    )
    .unwrap()
}

async fn create_then_get_returns_the_same_record(h: &mut Harness) {
    let now = h.clock.now();
    let record = contact_record("491701111111", now, RetentionClass::Service13m);
    h.store.create(&record).await.unwrap();
    let got = h.store.get(&record.key).await.unwrap().expect("stored");
    assert_eq!(got, record);
    assert_eq!(got.version, 1);
    assert_eq!(got.retention, RetentionClass::Service13m);
    assert_eq!(got.expires_at, RetentionClass::Service13m.deadline(now));
    assert_eq!(
        got.body::<Contact>().unwrap().profile_name.as_deref(),
        Some("Erika Mustermann")
    );
    assert!(
        h.store
            .get(&ItemKey::new("C#nobody", "PROFILE"))
            .await
            .unwrap()
            .is_none()
    );
}

async fn create_conflicts_when_a_readable_item_exists(h: &mut Harness) {
    let now = h.clock.now();
    let first = message_record("491702222222", now, "Hallo");
    h.store.create(&first).await.unwrap();
    let mut second = first.clone();
    second.data = message_record("491702222222", now, "Anders").data;
    match h.store.create(&second).await {
        Err(StoreError::AlreadyExists(key)) => assert_eq!(key, first.key),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    let kept = h.store.get(&first.key).await.unwrap().unwrap();
    assert_eq!(kept.data, first.data, "a refused create changes nothing");
}

async fn create_replaces_an_item_past_its_deadline(h: &mut Harness) {
    let now = h.clock.now();
    let old = message_record("491703333333", now, "Alt");
    h.store.create(&old).await.unwrap();
    h.clock.set(old.expires_at);
    let new = message_record("491703333333", now, "Neu");
    let new = Record {
        expires_at: old.expires_at + Duration::days(7),
        ..new
    };
    h.store.create(&new).await.unwrap();
    let got = h.store.get(&new.key).await.unwrap().unwrap();
    assert_eq!(got.data, new.data);
    assert_eq!(got.version, 1);
}

async fn reads_hide_an_item_from_its_deadline_on(h: &mut Harness) {
    let now = h.clock.now();
    let record = message_record("491704444444", now, "Wie ist mein Tarif?");
    h.store.create(&record).await.unwrap();
    let deadline = now + Duration::days(7);
    assert_eq!(record.expires_at, deadline);
    let pk = record.key.pk.clone();

    h.clock.set(deadline - Duration::seconds(1));
    assert!(
        h.store.get(&record.key).await.unwrap().is_some(),
        "readable one second before"
    );
    assert_eq!(
        h.store
            .query(&pk, "", PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    h.clock.set(deadline);
    assert!(
        h.store.get(&record.key).await.unwrap().is_none(),
        "unreadable at the deadline"
    );
    assert!(
        h.store
            .query(&pk, "", PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Still there physically, so the sweeper can find and delete it.
    let due = all_due(h, deadline - Duration::hours(1), deadline, 50).await;
    assert!(due.iter().any(|d| d.key == record.key));
}

async fn query_returns_a_partitions_items_by_prefix_in_order(h: &mut Harness) {
    let now = h.clock.now();
    let profile = contact_record("491705555555", now, RetentionClass::Service13m);
    h.store.create(&profile).await.unwrap();
    let mut messages = Vec::new();
    for i in 0..3 {
        let m = message_record(
            "491705555555",
            now + Duration::minutes(i),
            &format!("Nachricht {i}"),
        );
        h.store.create(&m).await.unwrap();
        messages.push(m);
    }
    let short_lived = message_record("491705555555", now - Duration::days(6), "bald weg");
    h.store.create(&short_lived).await.unwrap();
    h.store
        .create(&message_record("491709999999", now, "fremd"))
        .await
        .unwrap();

    let pk = &profile.key.pk;
    let all = h
        .store
        .query(pk, "", PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 5);
    assert!(
        all.items.windows(2).all(|w| w[0].key.sk < w[1].key.sk),
        "sort-key order"
    );

    h.clock.advance(Duration::days(1));
    let only_messages = h
        .store
        .query(pk, MESSAGE_PREFIX, PageRequest::first(100))
        .await
        .unwrap();
    let keys: Vec<_> = only_messages.items.iter().map(|r| r.key.clone()).collect();
    let expected: Vec<_> = messages.iter().map(|r| r.key.clone()).collect();
    assert_eq!(
        keys, expected,
        "other partitions, other prefixes and expired items left out"
    );
}

async fn query_paginates_beyond_one_page(h: &mut Harness) {
    let now = h.clock.now();
    let mut expected = HashSet::new();
    for i in 0..25 {
        let m = message_record(
            "491706666666",
            now + Duration::seconds(i),
            &"x".repeat(i as usize),
        );
        h.store.create(&m).await.unwrap();
        expected.insert(m.key);
    }
    let pk = expected.iter().next().unwrap().pk.clone();
    let mut seen = Vec::new();
    let mut page = PageRequest::first(10);
    let mut pages = 0;
    loop {
        let result = h
            .store
            .query(&pk, MESSAGE_PREFIX, page.clone())
            .await
            .unwrap();
        assert!(result.items.len() <= 10);
        pages += 1;
        seen.extend(result.items.into_iter().map(|r| r.key));
        match result.next {
            Some(token) => page = PageRequest::after(10, token),
            None => break,
        }
        assert!(pages < 10, "pagination must end");
    }
    assert!(
        pages >= 3,
        "25 items in pages of 10 take at least 3 pages, took {pages}"
    );
    assert_eq!(seen.len(), 25, "no item twice");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);
}

async fn update_bumps_the_version_and_refuses_stale_or_missing(h: &mut Harness) {
    let now = h.clock.now();
    let created = contact_record("491707777777", now, RetentionClass::Bot7d);
    h.store.create(&created).await.unwrap();

    let mut change = h.store.get(&created.key).await.unwrap().unwrap();
    let mut contact: Contact = change.body().unwrap();
    contact.company_name = Some("Muster GmbH".into());
    change.set_body(&contact).unwrap();
    // Authenticated: the contact moves to the 13-month class.
    change.retention = RetentionClass::Service13m;
    change.expires_at = RetentionClass::Service13m.deadline(now);
    let updated = h.store.update(&change).await.unwrap();
    assert_eq!(updated.version, 2);
    let stored = h.store.get(&created.key).await.unwrap().unwrap();
    assert_eq!(stored, updated);
    assert_eq!(
        stored.body::<Contact>().unwrap().company_name.as_deref(),
        Some("Muster GmbH")
    );

    // A writer still holding version 1 loses, and changes nothing.
    match h.store.update(&change).await {
        Err(StoreError::VersionConflict { expected: 1, .. }) => {}
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    assert_eq!(h.store.get(&created.key).await.unwrap().unwrap().version, 2);

    let missing = contact_record("491700000000", now, RetentionClass::Bot7d);
    assert!(matches!(
        h.store.update(&missing).await,
        Err(StoreError::NotFound(_))
    ));

    h.clock.set(stored.expires_at);
    assert!(
        matches!(h.store.update(&stored).await, Err(StoreError::NotFound(_))),
        "expired"
    );
}

async fn write_all_commits_every_write_or_none(h: &mut Harness) {
    let now = h.clock.now();
    let existing = contact_record("491708080808", now, RetentionClass::Bot7d);
    h.store.create(&existing).await.unwrap();
    let taken = message_record("491708080808", now, "Schon da");
    h.store.create(&taken).await.unwrap();
    let fresh = message_record("491708080808", now, "Ganz neu hier");
    let mut changed = existing.clone();
    changed.retention = RetentionClass::Service13m;
    changed.expires_at = RetentionClass::Service13m.deadline(now);

    // One failing condition (create over a readable item) refuses the whole transaction.
    let refused = h
        .store
        .write_all(&[
            Write::Create(fresh.clone()),
            Write::Update(changed.clone()),
            Write::Create(taken.clone()),
        ])
        .await;
    match refused {
        Err(StoreError::AlreadyExists(key)) => assert_eq!(key, taken.key),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert!(h.store.get(&fresh.key).await.unwrap().is_none());
    assert_eq!(h.store.get(&existing.key).await.unwrap().unwrap(), existing);

    // A stale version refuses it too.
    let mut stale = changed.clone();
    stale.version = 7;
    match h
        .store
        .write_all(&[Write::Create(fresh.clone()), Write::Update(stale)])
        .await
    {
        Err(StoreError::VersionConflict { key, expected: 7 }) => assert_eq!(key, existing.key),
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    assert!(h.store.get(&fresh.key).await.unwrap().is_none());

    h.store
        .write_all(&[Write::Create(fresh.clone()), Write::Update(changed.clone())])
        .await
        .unwrap();
    let created = h.store.get(&fresh.key).await.unwrap().unwrap();
    assert_eq!((created.version, created.data), (1, fresh.data));
    let updated = h.store.get(&existing.key).await.unwrap().unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.retention, RetentionClass::Service13m);

    // Updating what is gone is NotFound; what no adapter can commit is refused up front.
    let missing = contact_record("491708181818", now, RetentionClass::Bot7d);
    assert!(matches!(
        h.store.write_all(&[Write::Update(missing)]).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        h.store
            .write_all(&[Write::Update(updated.clone()), Write::Update(updated)])
            .await,
        Err(StoreError::TransactionRepeatsKey(_))
    ));
    let too_many: Vec<Write> = (0..=MAX_TRANSACTION_WRITES)
        .map(|i| Write::Create(message_record("491708282828", now, &"x".repeat(i + 1))))
        .collect();
    assert!(matches!(
        h.store.write_all(&too_many).await,
        Err(StoreError::TransactionTooLarge { .. })
    ));
}

async fn delete_returns_what_was_there_and_is_idempotent(h: &mut Harness) {
    let now = h.clock.now();
    let record = records::callback_request("11111111-2222-3333-4444-555555555555", now);
    h.store.create(&record).await.unwrap();
    let removed = h.store.delete(&record.key).await.unwrap().expect("removed");
    assert_eq!(removed, record);
    assert!(h.store.get(&record.key).await.unwrap().is_none());
    assert!(
        h.store.delete(&record.key).await.unwrap().is_none(),
        "second delete is a no-op"
    );

    // Deleting works on expired items too (that is the sweeper's job).
    let expired = records::survey_answer(now);
    h.store.create(&expired).await.unwrap();
    h.clock.set(expired.expires_at + Duration::hours(1));
    assert_eq!(
        h.store.delete(&expired.key).await.unwrap().map(|r| r.key),
        Some(expired.key)
    );
}

async fn delete_partition_removes_all_of_a_contact_and_counts_per_class(h: &mut Harness) {
    let now = h.clock.now();
    let wa_id = "491708888888";
    h.store
        .create(&contact_record(wa_id, now, RetentionClass::Service13m))
        .await
        .unwrap();
    for i in 0..30 {
        h.store
            .create(&message_record(
                wa_id,
                now - Duration::days(8) + Duration::seconds(i),
                &"m".repeat(i as usize + 1),
            ))
            .await
            .unwrap();
    }
    let other = contact_record("491708888889", now, RetentionClass::Bot7d);
    h.store.create(&other).await.unwrap();

    let pk = pseudonymizer().contact(wa_id).unwrap().partition();
    let report = h.store.delete_partition(&pk).await.unwrap();
    let expected = BTreeMap::from([(RetentionClass::Bot7d, 30), (RetentionClass::Service13m, 1)]);
    assert_eq!(
        report.per_class, expected,
        "expired items are deleted and counted too"
    );
    assert_eq!(report.total(), 31);
    assert!(
        h.store
            .query(&pk, "", PageRequest::first(100))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Nothing left physically: not at the messages' deadlines, not at the profile's.
    let profile_deadline = RetentionClass::Service13m.deadline(now);
    let mut due = all_due(h, now - Duration::days(2), now, 100).await;
    due.extend(
        all_due(
            h,
            profile_deadline - Duration::hours(1),
            profile_deadline,
            100,
        )
        .await,
    );
    assert!(
        due.iter().all(|d| d.key.pk != pk),
        "nothing left physically"
    );
    assert!(
        h.store.get(&other.key).await.unwrap().is_some(),
        "other contacts untouched"
    );
    assert_eq!(h.store.delete_partition(&pk).await.unwrap().total(), 0);
}

async fn all_due(
    h: &Harness,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u32,
) -> Vec<DueItem> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(limit);
    for _ in 0..1000 {
        let result = h.store.list_due(since, until, page.clone()).await.unwrap();
        assert!(result.items.len() <= limit as usize);
        out.extend(result.items);
        match result.next {
            Some(token) => page = PageRequest::after(limit, token),
            None => return out,
        }
    }
    panic!("list_due did not finish");
}

async fn list_due_finds_items_by_deadline_window(h: &mut Harness) {
    let start = h.clock.now();
    // Bot messages from 8, 7 and 6 days ago, a survey answer, a callback request.
    let eight = message_record("491711111111", start - Duration::days(8), "acht");
    let seven = message_record("491711111111", start - Duration::days(7), "sieben");
    let six = message_record("491711111111", start - Duration::days(6), "sechs");
    let survey = records::survey_answer(start);
    let callback = records::callback_request("aaaaaaaa-0000-0000-0000-000000000001", start);
    for r in [&eight, &seven, &six, &survey, &callback] {
        h.store.create(r).await.unwrap();
    }
    let keys = |items: Vec<DueItem>| items.into_iter().map(|d| d.key).collect::<HashSet<_>>();

    let due_now = keys(all_due(h, start - Duration::days(2), start, 10).await);
    assert_eq!(
        due_now,
        HashSet::from([eight.key.clone(), seven.key.clone()]),
        "deadline <= now"
    );

    let later = all_due(h, start - Duration::days(2), start + Duration::days(1), 10).await;
    let found = later
        .iter()
        .find(|d| d.key == six.key)
        .expect("six days old is due tomorrow");
    assert_eq!(found.retention, RetentionClass::Bot7d);
    assert_eq!(found.expires_at, six.expires_at);

    let recent = keys(all_due(h, start - Duration::hours(12), start, 10).await);
    assert_eq!(
        recent,
        HashSet::from([seven.key.clone()]),
        "deadlines before `since` are outside"
    );

    let in_three_months = callback.expires_at;
    let callbacks = all_due(h, in_three_months - Duration::hours(2), in_three_months, 10).await;
    assert_eq!(callbacks.len(), 1);
    assert_eq!(callbacks[0].key, callback.key);
    assert_eq!(callbacks[0].retention, RetentionClass::Callback3m);
    let in_thirteen_months = survey.expires_at;
    let surveys = keys(
        all_due(
            h,
            in_thirteen_months,
            in_thirteen_months + Duration::hours(1),
            10,
        )
        .await,
    );
    assert_eq!(surveys, HashSet::from([survey.key.clone()]));
}

async fn list_due_paginates_across_hours(h: &mut Harness) {
    let start = h.clock.now();
    let mut expected = HashSet::new();
    for i in 0..30 {
        let r = message_record(
            "491712222222",
            start - Duration::days(7) - Duration::minutes(17 * i),
            &"d".repeat(i as usize + 1),
        );
        h.store.create(&r).await.unwrap();
        expected.insert(r.key);
    }
    let due = all_due(h, start - Duration::hours(10), start, 7).await;
    assert_eq!(due.len(), 30, "each due item exactly once");
    assert_eq!(
        due.into_iter().map(|d| d.key).collect::<HashSet<_>>(),
        expected
    );
}

/// Many deadlines in one hour: pages end inside a bucket and go on from there, whatever the
/// page size, and nothing is listed twice or left out.
async fn list_due_pages_through_a_crowded_hour(h: &mut Harness) {
    let start = h.clock.now();
    let mut expected = HashSet::new();
    for i in 0..25 {
        let r = message_record(
            "491714444444",
            start - Duration::days(7) - Duration::seconds(90 * i),
            &"c".repeat(i as usize + 1),
        );
        h.store.create(&r).await.unwrap();
        expected.insert(r.key);
    }
    for limit in [1, 3, 4, 10] {
        let due = all_due(h, start - Duration::hours(3), start, limit).await;
        assert_eq!(
            due.len(),
            25,
            "page size {limit}: each due item exactly once"
        );
        assert_eq!(
            due.into_iter().map(|d| d.key).collect::<HashSet<_>>(),
            expected,
            "page size {limit}"
        );
    }
}

async fn change_feed_shows_inserts_modifies_and_removes_with_images(h: &mut Harness) {
    let now = h.clock.now();
    let record = contact_record("491713333333", now, RetentionClass::Bot7d);
    h.store.create(&record).await.unwrap();
    let mut changed = record.clone();
    changed.retention = RetentionClass::Service13m;
    changed.expires_at = RetentionClass::Service13m.deadline(now);
    let updated = h.store.update(&changed).await.unwrap();
    h.store.delete(&record.key).await.unwrap();

    let events = h.drain_feed(3).await;
    let names: Vec<_> = events.iter().map(|e| e.event_name.as_str()).collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE"]);
    let [insert, modify, remove] = &events[..] else {
        unreachable!()
    };
    assert_eq!(Record::from_item(&insert.change.new_image).unwrap(), record);
    assert!(insert.change.old_image.is_empty());
    assert_eq!(Record::from_item(&modify.change.old_image).unwrap(), record);
    assert_eq!(
        Record::from_item(&modify.change.new_image).unwrap(),
        updated
    );
    assert_eq!(
        Record::from_item(&remove.change.old_image).unwrap(),
        updated
    );
    assert!(remove.change.new_image.is_empty());
    assert!(
        !is_ttl_removal(remove),
        "our own deletion is not a TTL removal"
    );
    for e in &events {
        assert_eq!(e.event_source.as_deref(), Some("aws:dynamodb"));
        assert_eq!(
            servicekanal_shared::ports::store::key_of_change(e).unwrap(),
            record.key
        );
        assert!(e.change.sequence_number.is_some());
    }
    let seqs: Vec<_> = events
        .iter()
        .map(|e| e.change.sequence_number.clone().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers grow: {seqs:?}"
    );
    assert!(
        h.drain_feed(0).await.is_empty(),
        "a change is delivered once"
    );

    // A lambda-style event made of these records parses back as the runtime would give it.
    let json = serde_json::json!({ "Records": events });
    let parsed: aws_lambda_events::event::dynamodb::Event = serde_json::from_value(json).unwrap();
    assert_eq!(parsed.records.len(), 3);
}

async fn bad_page_requests_are_typed_errors(h: &mut Harness) {
    let now = h.clock.now();
    assert!(matches!(
        h.store.query("C#x", "", PageRequest::first(0)).await,
        Err(StoreError::InvalidLimit)
    ));
    assert!(matches!(
        h.store
            .query("C#x", "", PageRequest::after(5, "%%%".into()))
            .await,
        Err(StoreError::InvalidPageToken)
    ));
    assert!(matches!(
        h.store
            .list_due(now, now, PageRequest::after(5, "not-a-token!".into()))
            .await,
        Err(StoreError::InvalidPageToken)
    ));
}

async fn delete_due_takes_only_items_past_their_deadline(h: &mut Harness) {
    let now = h.clock.now();
    let answer = records::survey_answer(now);
    h.store.create(&answer).await.unwrap();
    assert!(
        h.store.delete_due(&answer.key).await.unwrap().is_none(),
        "not due: kept"
    );
    assert!(h.store.get(&answer.key).await.unwrap().is_some());

    h.clock.set(answer.expires_at - Duration::seconds(1));
    assert!(h.store.delete_due(&answer.key).await.unwrap().is_none());
    h.clock.set(answer.expires_at);
    let removed = h.store.delete_due(&answer.key).await.unwrap();
    assert_eq!(removed.map(|r| r.key), Some(answer.key.clone()));
    let deadline_hour = answer.expires_at - Duration::hours(1);
    assert!(
        all_due(h, deadline_hour, answer.expires_at, 10)
            .await
            .is_empty()
    );
    assert!(
        h.store.delete_due(&answer.key).await.unwrap().is_none(),
        "gone: nothing to do"
    );
}

async fn set_deadline_moves_a_deadline_readable_or_not(h: &mut Harness) {
    let now = h.clock.now();
    let message = message_record("491709990002", now, "Hallo");
    h.store.create(&message).await.unwrap();
    let later = message.expires_at + Duration::days(30);
    assert!(
        !h.store
            .set_deadline(
                &message.key,
                message.expires_at - Duration::seconds(1),
                later
            )
            .await
            .unwrap(),
        "someone moved it meanwhile: refused"
    );
    // Past its deadline: unreadable, but a renewal brings it back.
    h.clock.set(message.expires_at);
    assert!(h.store.get(&message.key).await.unwrap().is_none());
    assert!(
        h.store
            .set_deadline(&message.key, message.expires_at, later)
            .await
            .unwrap()
    );
    let renewed = h.store.get(&message.key).await.unwrap().expect("readable");
    assert_eq!(renewed.expires_at, later);
    assert_eq!(renewed.version, message.version + 1);
    let keys = |items: Vec<DueItem>| items.into_iter().map(|d| d.key).collect::<Vec<_>>();
    assert!(
        keys(all_due(h, message.expires_at, message.expires_at, 10).await).is_empty(),
        "the old index entry is gone"
    );
    assert_eq!(
        keys(all_due(h, later, later, 10).await),
        vec![message.key.clone()]
    );
    // Moved to now: due at once.
    assert!(
        h.store
            .set_deadline(&message.key, later, h.clock.now())
            .await
            .unwrap()
    );
    assert!(h.store.get(&message.key).await.unwrap().is_none());
    assert!(h.store.delete_due(&message.key).await.unwrap().is_some());
    assert!(
        !h.store
            .set_deadline(&message.key, h.clock.now(), later)
            .await
            .unwrap(),
        "gone"
    );
}

fn hold(reason: &str, at: DateTime<Utc>) -> Hold {
    Hold {
        reason: reason.into(),
        placed_at: at,
    }
}

async fn a_held_item_is_blocked_from_use_and_deletion(h: &mut Harness) {
    let now = h.clock.now();
    let wa_id = "491709990001";
    let profile = contact_record(wa_id, now, RetentionClass::Bot7d);
    let message = message_record(wa_id, now, "Ich widerspreche der Rechnung");
    h.store.create(&profile).await.unwrap();
    h.store.create(&message).await.unwrap();

    let held = h
        .store
        .place_hold(&message.key, hold("case 2026-17", now))
        .await
        .unwrap();
    assert_eq!(held.hold.as_ref().unwrap().reason, "case 2026-17");
    assert_eq!(
        held.expires_at, message.expires_at,
        "the deadline is kept aside"
    );
    let again = h
        .store
        .place_hold(&message.key, hold("other", now))
        .await
        .unwrap();
    assert_eq!(again.hold, held.hold, "a second hold keeps the first");

    // Blocked from use: no read sees it, no write replaces it.
    assert!(h.store.get(&message.key).await.unwrap().is_none());
    let pk = &message.key.pk;
    let readable = h.store.query(pk, "", PageRequest::first(10)).await.unwrap();
    assert_eq!(
        readable.items.iter().map(|r| &r.key).collect::<Vec<_>>(),
        vec![&profile.key]
    );
    assert!(matches!(
        h.store.create(&message).await,
        Err(StoreError::Held(k)) if k == message.key
    ));
    assert!(matches!(
        h.store.update(&held).await,
        Err(StoreError::Held(_))
    ));

    // Blocked from deletion: no deadline reaches it, no delete takes it.
    h.clock.set(message.expires_at + Duration::days(30));
    assert!(
        all_due(
            h,
            message.expires_at - Duration::hours(1),
            message.expires_at + Duration::hours(1),
            10
        )
        .await
        .iter()
        .all(|d| d.key != message.key),
        "not in the expiry index"
    );
    assert!(h.store.delete_due(&message.key).await.unwrap().is_none());
    assert!(
        !h.store
            .set_deadline(&message.key, message.expires_at, h.clock.now())
            .await
            .unwrap()
    );
    assert!(matches!(
        h.store.delete(&message.key).await,
        Err(StoreError::Held(_))
    ));
    let report = h.store.delete_partition(pk).await.unwrap();
    assert_eq!(report.held, 1);
    assert_eq!(report.total(), 1, "the profile went");

    let holds = h.store.list_holds(PageRequest::first(10)).await.unwrap();
    assert_eq!(holds.items.len(), 1);
    assert_eq!(holds.items[0].key, message.key);
    assert_eq!(holds.items[0].retention, RetentionClass::Bot7d);

    // Released after its deadline: the deadline applies at once.
    let released = h.store.release_hold(&message.key).await.unwrap();
    assert!(matches!(released, Released::Deleted(r) if r.key == message.key));
    assert!(
        matches!(h.store.delete(&message.key).await, Ok(None)),
        "physically gone"
    );
    assert!(
        h.store
            .list_holds(PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        h.store.release_hold(&message.key).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn a_released_hold_lets_the_deadline_apply_again(h: &mut Harness) {
    let now = h.clock.now();
    let callback = records::callback_request("bbbbbbbb-0000-0000-0000-000000000001", now);
    h.store.create(&callback).await.unwrap();
    assert!(matches!(
        h.store.release_hold(&callback.key).await,
        Err(StoreError::NotHeld(_))
    ));
    h.store
        .place_hold(&callback.key, hold("audit", now))
        .await
        .unwrap();
    h.clock.set(now + Duration::days(10));
    let Released::Restored(restored) = h.store.release_hold(&callback.key).await.unwrap() else {
        panic!("deadline ahead: restored");
    };
    assert!(restored.hold.is_none());
    assert_eq!(restored.expires_at, callback.expires_at);
    let got = h
        .store
        .get(&callback.key)
        .await
        .unwrap()
        .expect("readable again");
    assert_eq!(
        got.body::<CallbackRequest>().unwrap(),
        callback.body().unwrap()
    );
    let due = all_due(h, callback.expires_at, callback.expires_at, 10).await;
    assert_eq!(due.len(), 1, "back in the expiry index");
    // A hold on an unreadable item is refused.
    h.clock.set(callback.expires_at);
    assert!(matches!(
        h.store.place_hold(&callback.key, hold("late", now)).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn list_owned_finds_a_persons_items_outside_the_partition(h: &mut Harness) {
    let now = h.clock.now();
    let anna = pseudonymizer().contact("491701230001").unwrap();
    let ben = pseudonymizer().contact("491701230002").unwrap();
    let mut expected = HashSet::new();
    for i in 0..7 {
        let answer = records::survey_answer(now + Duration::seconds(i)).owned_by(&anna);
        h.store.create(&answer).await.unwrap();
        expected.insert(answer.key);
    }
    let callback =
        records::callback_request("cccccccc-0000-0000-0000-000000000001", now).owned_by(&anna);
    h.store.create(&callback).await.unwrap();
    h.store
        .place_hold(&callback.key, hold("case", now))
        .await
        .unwrap();
    expected.insert(callback.key.clone());
    h.store
        .create(&records::survey_answer(now).owned_by(&ben))
        .await
        .unwrap();
    h.store.create(&records::survey_answer(now)).await.unwrap();

    let mut found = HashSet::new();
    let mut page = PageRequest::first(3);
    loop {
        let result = h.store.list_owned(anna.as_str(), page).await.unwrap();
        assert!(result.items.len() <= 3);
        found.extend(result.items);
        match result.next {
            Some(token) => page = PageRequest::after(3, token),
            None => break,
        }
    }
    assert_eq!(found, expected, "held ones too, nobody else's");
    let first = found.iter().find(|k| k.pk.starts_with("SURVEY#")).unwrap();
    h.store.delete(first).await.unwrap();
    let after = h
        .store
        .list_owned(anna.as_str(), PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(after.items.len(), 7, "a deleted item leaves the index");
}

async fn typed_access_loads_saves_and_keeps_the_version_check(h: &mut Harness) {
    let now = h.clock.now();
    let key = contact_record("491703333333", now, RetentionClass::Bot7d).key;
    let store = h.store.as_ref();
    assert!(store.load::<Contact>(&key).await.unwrap().is_none());
    let new = Stored::new(
        key.clone(),
        Contact::new("491703333333", Some("Erika Mustermann".into()), now),
        RetentionClass::Bot7d,
        now,
    );
    assert!(!new.exists());
    let saved = new.save(store).await.unwrap();
    assert!(saved.exists());

    // A reader changes the body and the class; the store shows both.
    let mut loaded = store.load::<Contact>(&key).await.unwrap().expect("stored");
    assert_eq!(loaded, saved);
    let stale = loaded.clone();
    loaded.body.profile_name = Some("Erika M.".into());
    let later = now + Duration::days(2);
    loaded.retain(RetentionClass::Service13m, later);
    loaded.save(store).await.unwrap();
    let record = store.get(&key).await.unwrap().unwrap();
    assert_eq!(record.version, 2);
    assert_eq!(record.retention, RetentionClass::Service13m);
    assert_eq!(
        record.expires_at,
        RetentionClass::Service13m.deadline(later)
    );
    assert_eq!(
        record.body::<Contact>().unwrap().profile_name.as_deref(),
        Some("Erika M.")
    );

    // A writer that read before loses, and changes nothing.
    match stale.save(store).await {
        Err(StoreError::VersionConflict { expected: 1, .. }) => {}
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    // Another kind at the key is a typed error, not a wrong body.
    match store.load::<Message>(&key).await {
        Err(StoreError::WrongKind { .. }) => {}
        other => panic!("expected WrongKind, got {other:?}"),
    }
    assert_eq!(store.get(&key).await.unwrap().unwrap(), record);
}

/// `load` reads what `get` reads: the same record and body, and nothing where `get` finds
/// nothing (past its deadline, under hold, never written).
async fn typed_reads_see_what_plain_reads_see(h: &mut Harness) {
    let now = h.clock.now();
    let store = h.store.as_ref();
    let profile = contact_record("491704444444", now, RetentionClass::Service13m);
    let message = message_record("491704444444", now, "Mein Tarif, bitte");
    let callback = records::callback_request("c-typed-1", now);
    let held = message_record("491704444444", now + Duration::seconds(1), "gesperrt");
    let short = contact_record("491704444445", now, RetentionClass::Bot7d);
    for record in [&profile, &message, &callback, &held, &short] {
        store.create(record).await.unwrap();
    }
    store
        .place_hold(&held.key, hold("case 2026-18", now))
        .await
        .unwrap();

    async fn same<B>(store: &dyn servicekanal_shared::ports::store::Store, record: &Record)
    where
        B: servicekanal_shared::ports::store::Body + PartialEq + std::fmt::Debug + Clone,
    {
        let got = store.get(&record.key).await.unwrap().expect("readable");
        let loaded = store
            .load::<B>(&record.key)
            .await
            .unwrap()
            .expect("loadable");
        assert_eq!(loaded.body, got.body::<B>().unwrap());
        assert_eq!(loaded.body, record.body::<B>().unwrap());
        assert_eq!(loaded.retention(), got.retention);
        assert_eq!(loaded.expires_at(), got.expires_at);
        // The version travels along: saving what was loaded is an update of that version.
        let saved = loaded.save(store).await.unwrap();
        assert_eq!(
            store.get(&record.key).await.unwrap().unwrap().version,
            got.version + 1
        );
        assert_eq!(saved.body, got.body::<B>().unwrap());
    }
    same::<Contact>(store, &profile).await;
    same::<Message>(store, &message).await;
    same::<CallbackRequest>(store, &callback).await;

    assert!(store.get(&held.key).await.unwrap().is_none());
    assert!(store.load::<Message>(&held.key).await.unwrap().is_none());
    h.clock.advance(Duration::days(8));
    assert!(store.get(&short.key).await.unwrap().is_none());
    assert!(store.load::<Contact>(&short.key).await.unwrap().is_none());
    assert!(store.load::<Contact>(&profile.key).await.unwrap().is_some());
    let never = ItemKey::profile(&pseudonymizer().contact("491704444446").unwrap());
    assert!(store.load::<Contact>(&never).await.unwrap().is_none());
}

servicekanal_testing::for_each_adapter!(
    create_then_get_returns_the_same_record,
    create_conflicts_when_a_readable_item_exists,
    create_replaces_an_item_past_its_deadline,
    reads_hide_an_item_from_its_deadline_on,
    query_returns_a_partitions_items_by_prefix_in_order,
    query_paginates_beyond_one_page,
    update_bumps_the_version_and_refuses_stale_or_missing,
    write_all_commits_every_write_or_none,
    delete_returns_what_was_there_and_is_idempotent,
    delete_partition_removes_all_of_a_contact_and_counts_per_class,
    list_due_finds_items_by_deadline_window,
    list_due_paginates_across_hours,
    list_due_pages_through_a_crowded_hour,
    change_feed_shows_inserts_modifies_and_removes_with_images,
    bad_page_requests_are_typed_errors,
    delete_due_takes_only_items_past_their_deadline,
    set_deadline_moves_a_deadline_readable_or_not,
    a_held_item_is_blocked_from_use_and_deletion,
    a_released_hold_lets_the_deadline_apply_again,
    list_owned_finds_a_persons_items_outside_the_partition,
    typed_access_loads_saves_and_keeps_the_version_check,
    typed_reads_see_what_plain_reads_see,
);
