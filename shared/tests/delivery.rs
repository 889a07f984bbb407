//! WhatsApp's first status for a reply may arrive before the sender noted the reply's WhatsApp
//! id (it comes within milliseconds of the send): both end up on the stored message.

use servicekanal_shared::channels::whatsapp::content::OutboundContent;
use servicekanal_shared::domain::keys::ItemKey;
use servicekanal_shared::domain::messages::{StatusOutcome, apply_status, mark_sent};
use servicekanal_shared::domain::{Actor, DeliveryStatus, Message};
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::Clock;
use servicekanal_shared::ports::store::Record;
use servicekanal_testing::{FaultyStore, harness};
use ulid::Ulid;

#[tokio::test]
async fn a_status_before_the_sender_noted_the_id_keeps_both() {
    let h = harness::embedded().await;
    let pseudonymizer = servicekanal_testing::test_pseudonymizer();
    let contact = pseudonymizer.contact("4915112345678").unwrap();
    let now = h.clock.now();
    let reply = Message::outbound(
        Ulid::new(),
        Ulid::new(),
        Actor::Bot,
        OutboundContent::Text {
            body: "Roaming schalten Sie in der App ein.".into(),
        },
        now,
        None,
    );
    let key = ItemKey::message(&contact, reply.id);
    let pending = Record::new(key.clone(), &reply, RetentionClass::Bot7d, now)
        .unwrap()
        .owned_by(&contact);
    h.store.create(&pending).await.unwrap();

    // The sender got the id from WhatsApp and wrote the marker; just before its update the
    // webhook applies WhatsApp's `sent` status (the store's hook runs it at that moment).
    let applied = std::sync::Arc::new(std::sync::Mutex::new(None));
    let store = {
        let (inner, pseudonymizer, key, applied) = (
            h.store.clone(),
            pseudonymizer.clone(),
            key.clone(),
            applied.clone(),
        );
        FaultyStore::new(h.store.clone(), move |operation, written| {
            let mut applied = applied.lock().unwrap();
            if operation == "update" && *written == key && applied.is_none() {
                let outcome = futures::executor::block_on(apply_status(
                    inner.as_ref(),
                    &pseudonymizer,
                    "wamid.R1",
                    DeliveryStatus::Sent,
                    None,
                    None,
                ));
                *applied = Some(outcome.unwrap());
            }
            false
        })
    };
    mark_sent(&store, &pseudonymizer, pending, "wamid.R1", now)
        .await
        .unwrap();
    assert_eq!(*applied.lock().unwrap(), Some(StatusOutcome::Updated));
    let stored: Message = h.store.get(&key).await.unwrap().unwrap().body().unwrap();
    assert_eq!(stored.wamid.as_deref(), Some("wamid.R1"));
    assert_eq!(
        stored.delivery,
        DeliveryStatus::Sent,
        "the later status is kept"
    );
}
