//! Identity links on both store adapters (embedded, DynamoDB through moto): one contact per
//! person across phone numbers and user ids, merged when two turn out to be one, identity
//! changes that leave the old identifier nowhere, links that live as long as their contact,
//! and data-subject requests by user id that still find a person under legal hold.

use servicekanal_testing::harness as support;

use chrono::Duration;
use servicekanal_shared::domain::Contact;
use servicekanal_shared::domain::identity::{Identifier, Identities};
use servicekanal_shared::domain::keys::{ItemKey, Pseudonym};
use servicekanal_shared::policy::privacy::{self, PersonRef, find_person};
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::Clock;
use servicekanal_shared::ports::store::{Hold, Record, Write};
use servicekanal_testing::{records, test_pseudonymizer};
use support::Harness;

const PHONE: &str = "491701234567";
const USER: &str = "DE.1349120865530274";

fn phone(raw: &str) -> Identifier {
    Identifier::phone(raw).unwrap()
}

fn user(raw: &str) -> Identifier {
    Identifier::user_id(raw).unwrap()
}

/// A contact's profile as the webhook writes it, with the given identifiers.
async fn profile(h: &Harness, contact: &Pseudonym, wa_id: Option<&str>, user_id: Option<&str>) {
    let now = h.clock.now();
    let mut body = Contact::first_seen(Some("Anna Beispiel".into()), now);
    body.wa_id = wa_id.map(str::to_owned);
    body.user_id = user_id.map(str::to_owned);
    let key = ItemKey::profile(contact);
    let record = match h.store.get(&key).await.unwrap() {
        Some(mut existing) => {
            existing.set_body(&body).unwrap();
            h.store.update(&existing).await.unwrap();
            return;
        }
        None => Record::new(key, &body, RetentionClass::Bot7d, now).unwrap(),
    };
    h.store.create(&record).await.unwrap();
}

async fn stored_profile(h: &Harness, contact: &Pseudonym) -> Contact {
    let record = h.store.get(&ItemKey::profile(contact)).await.unwrap();
    record.expect("a profile").body().unwrap()
}

/// Anna, known by number and user id: one contact, both linked, her profile stored.
async fn anna_by_both(h: &Harness, ids: &Identities<'_>) -> Pseudonym {
    let both = [phone(PHONE), user(USER)];
    let contact = ids.establish(&both, h.clock.now()).await.unwrap().contact;
    profile(h, &contact, Some(PHONE), Some(USER)).await;
    contact
}

async fn one_person_is_one_contact_whichever_identifier_she_writes_with(h: &mut Harness) {
    let pseudonymizer = test_pseudonymizer();
    let ids = Identities {
        store: h.store.as_ref(),
        pseudonymizer: &pseudonymizer,
    };
    let now = h.clock.now();
    let first = ids.establish(&[phone(PHONE)], now).await.unwrap();
    assert_eq!(first.contact, pseudonymizer.contact(PHONE).unwrap());
    profile(h, &first.contact, Some(PHONE), None).await;
    let both = ids
        .establish(&[phone(PHONE), user(USER)], now)
        .await
        .unwrap();
    assert_eq!(both.contact, first.contact);
    let by_user = ids.establish(&[user(USER)], now).await.unwrap();
    assert_eq!(by_user.contact, first.contact);
    assert_eq!(
        ids.lookup(&user(USER)).await.unwrap(),
        Some(first.contact.clone())
    );
    // The links are the contact's: same class and deadline, owned by it.
    let link = h
        .store
        .get(&ItemKey::identity_link(&pseudonymizer.user(USER).unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.owner.as_deref(), Some(first.contact.as_str()));
    assert_eq!(link.retention, RetentionClass::Bot7d);
    assert!(
        !format!("{:?}", link.data).contains(USER),
        "the user id is not stored in it"
    );
}

async fn two_contacts_merge_into_the_more_recently_active_one(h: &mut Harness) {
    let pseudonymizer = test_pseudonymizer();
    let ids = Identities {
        store: h.store.as_ref(),
        pseudonymizer: &pseudonymizer,
    };
    let by_phone = ids
        .establish(&[phone(PHONE)], h.clock.now())
        .await
        .unwrap()
        .contact;
    profile(h, &by_phone, Some(PHONE), None).await;
    h.clock.advance(Duration::minutes(10));
    let by_user = ids
        .establish(&[user(USER)], h.clock.now())
        .await
        .unwrap()
        .contact;
    profile(h, &by_user, None, Some(USER)).await;
    assert_ne!(by_phone, by_user);

    let merged = ids
        .establish(&[phone(PHONE), user(USER)], h.clock.now())
        .await
        .unwrap();
    assert_eq!(merged.contact, by_user, "the active one stays");
    assert_eq!(merged.merged, vec![by_phone.clone()]);
    assert_eq!(
        ids.lookup(&phone(PHONE)).await.unwrap(),
        Some(by_user.clone())
    );
    let kept = stored_profile(h, &by_user).await;
    assert_eq!(kept.wa_id.as_deref(), Some(PHONE));
    assert_eq!(kept.user_id.as_deref(), Some(USER));
    let old = h
        .store
        .get(&ItemKey::profile(&by_phone))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.owner.as_deref(), Some(by_user.as_str()));
    let old: Contact = old.body().unwrap();
    assert_eq!(
        (old.wa_id, old.user_id),
        (None, None),
        "identifiers only on the kept one"
    );

    // The person is both contacts; erasure takes both.
    let person = find_person(
        h.store.as_ref(),
        &pseudonymizer,
        &PersonRef::UserId(USER.into()),
    )
    .await
    .unwrap();
    assert_eq!(person.contacts, vec![by_user.clone(), by_phone.clone()]);
    privacy::erase(h.store.as_ref(), &person).await.unwrap();
    for contact in [&by_user, &by_phone] {
        assert!(
            h.store
                .get(&ItemKey::profile(contact))
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(ids.lookup(&user(USER)).await.unwrap(), None);
    assert_eq!(ids.lookup(&phone(PHONE)).await.unwrap(), None);
}

async fn a_changed_number_leads_to_the_same_contact_and_the_old_one_nowhere(h: &mut Harness) {
    let pseudonymizer = test_pseudonymizer();
    let ids = Identities {
        store: h.store.as_ref(),
        pseudonymizer: &pseudonymizer,
    };
    let now = h.clock.now();
    let contact = anna_by_both(h, &ids).await;
    let new = phone("491709999999");
    ids.change(&contact, Some(&phone(PHONE)), &new, now)
        .await
        .unwrap();
    assert_eq!(ids.lookup(&new).await.unwrap(), Some(contact.clone()));
    assert_eq!(ids.lookup(&phone(PHONE)).await.unwrap(), None);
    let body = stored_profile(h, &contact).await;
    assert_eq!(body.wa_id.as_deref(), Some("491709999999"));
    // The old number, given to someone new, makes a new contact.
    let newcomer = ids.establish(&[phone(PHONE)], now).await.unwrap().contact;
    assert_ne!(newcomer, contact);
}

async fn links_follow_their_contact_into_the_service_class(h: &mut Harness) {
    let pseudonymizer = test_pseudonymizer();
    let ids = Identities {
        store: h.store.as_ref(),
        pseudonymizer: &pseudonymizer,
    };
    let now = h.clock.now();
    let contact = anna_by_both(h, &ids).await;
    // The contact authenticates: its profile becomes a service profile, and its links with it.
    let mut record = h
        .store
        .get(&ItemKey::profile(&contact))
        .await
        .unwrap()
        .unwrap();
    let body: Contact = record.body().unwrap();
    record.retention = RetentionClass::Service13m;
    record.expires_at = RetentionClass::Service13m.deadline(now);
    let mut writes = ids
        .links_following(&body, record.retention, record.expires_at)
        .await
        .unwrap();
    assert_eq!(writes.len(), 2);
    writes.push(Write::Update(record));
    h.store.write_all(&writes).await.unwrap();
    // Eight days later (past bot-7d), silent: both still lead to her.
    h.clock.advance(Duration::days(8));
    assert_eq!(
        ids.lookup(&user(USER)).await.unwrap(),
        Some(contact.clone())
    );
    assert_eq!(ids.lookup(&phone(PHONE)).await.unwrap(), Some(contact));
}

async fn a_held_person_is_still_found_by_user_id_and_phone(h: &mut Harness) {
    let pseudonymizer = test_pseudonymizer();
    let ids = Identities {
        store: h.store.as_ref(),
        pseudonymizer: &pseudonymizer,
    };
    let now = h.clock.now();
    let contact = anna_by_both(h, &ids).await;
    // A call from her number leaves a callback request, owned by the number's caller pseudonym.
    let callback =
        records::callback_request("c-held", now).owned_by(&pseudonymizer.caller(PHONE).unwrap());
    h.store.create(&callback).await.unwrap();

    let who = PersonRef::UserId(USER.into());
    let person = find_person(h.store.as_ref(), &pseudonymizer, &who)
        .await
        .unwrap();
    let hold = Hold {
        reason: "Az. 4 O 117/26".into(),
        placed_at: now,
    };
    let placed = privacy::hold_person(h.store.as_ref(), &person, &hold)
        .await
        .unwrap();
    // Profile, two links, the callback request.
    assert_eq!(placed.items.values().sum::<u64>(), 4);
    for who in [who, PersonRef::Phone("0170 1234567".into())] {
        let again = find_person(h.store.as_ref(), &pseudonymizer, &who)
            .await
            .unwrap();
        assert_eq!(again.contacts, vec![contact.clone()], "{who:?}");
        let export = privacy::export(h.store.as_ref(), &again, who.as_given(), now)
            .await
            .unwrap();
        assert_eq!(export.items, 4, "{who:?}");
    }
    let released = privacy::release_person(h.store.as_ref(), &person)
        .await
        .unwrap();
    assert_eq!(released.items.values().sum::<u64>(), 4);
    assert_eq!(ids.lookup(&user(USER)).await.unwrap(), Some(contact));
}

servicekanal_testing::for_each_adapter!(
    one_person_is_one_contact_whichever_identifier_she_writes_with,
    two_contacts_merge_into_the_more_recently_active_one,
    a_changed_number_leads_to_the_same_contact_and_the_old_one_nowhere,
    links_follow_their_contact_into_the_service_class,
    a_held_person_is_still_found_by_user_id_and_phone,
);
