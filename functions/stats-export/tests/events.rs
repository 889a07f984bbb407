//! Every sample in events/stats-export (stream batches as Lambda delivers them, recorded from
//! the local stack's change feed) through the handler, into a local directory.

use aws_lambda_events::event::dynamodb::Event;
use servicekanal_shared::ports::objects::local::LocalDirectory;
use servicekanal_shared::stats::Table;
use stats_export::{Ports, export, handle};
use std::collections::BTreeMap;
use std::sync::Arc;

fn sample(name: &str) -> Event {
    let path = format!(
        "{}/../../events/stats-export/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

async fn rows_of(name: &str) -> BTreeMap<Table, usize> {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports {
        objects: Arc::new(LocalDirectory::new(dir.path())),
    };
    let event = sample(name);
    let response = handle(event.clone(), &ports).await.unwrap();
    assert!(response.batch_item_failures.is_empty(), "{name}");
    let exported = export(&event.records, &ports).await.unwrap();
    assert_eq!(exported.records, event.records.len());
    assert_eq!(exported.poison, None);
    exported.rows
}

#[tokio::test]
async fn a_whatsapp_conversation_gives_message_events_and_one_closed_conversation() {
    let rows = rows_of("whatsapp-conversation.json").await;
    // Three customer messages filed, Lisa's three replies, the survey's offer; the goodbye
    // closes the conversation.
    assert_eq!(rows[&Table::MessageEvents], 7, "{rows:?}");
    assert_eq!(rows[&Table::Conversations], 1);
    assert_eq!(rows[&Table::Deletions], 0);
}

#[tokio::test]
async fn a_callback_done_gives_its_outcome_and_a_purpose_fulfilled_deletion() {
    let rows = rows_of("callback-done.json").await;
    assert_eq!(rows[&Table::Callbacks], 1);
    assert_eq!(
        rows[&Table::Deletions],
        1,
        "request and list entry, one class and hour"
    );
}

#[tokio::test]
async fn ttl_removals_are_counted_as_ttl_deletions() {
    let rows = rows_of("ttl-removals.json").await;
    assert_eq!(rows[&Table::Deletions], 1, "{rows:?}");
    assert_eq!(rows[&Table::MessageEvents], 0);
}

#[tokio::test]
async fn no_empty_files_and_a_shorter_retry_leaves_nothing_of_the_longer_batch() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports {
        objects: Arc::new(LocalDirectory::new(dir.path())),
    };
    let event = sample("whatsapp-conversation.json");
    let whole = export(&event.records, &ports).await.unwrap();
    // Message events and the closed conversation; nothing for the other three tables.
    assert_eq!(whole.objects.len(), 2, "{:?}", whole.objects);
    for key in ports.objects.list("").await.unwrap() {
        let bytes = ports.objects.get(&key).await.unwrap().unwrap();
        let rows = servicekanal_shared::stats::read_rows(bytes).unwrap();
        assert!(!rows.is_empty(), "{key} is empty");
    }
    // Bisected: the first record alone (a customer message, no closed conversation yet).
    let first_only = export(&event.records[..1], &ports).await.unwrap();
    assert_eq!(first_only.rows[&Table::Conversations], 0);
    let left = ports.objects.list("").await.unwrap();
    assert_eq!(
        left, first_only.objects,
        "the longer batch's objects are replaced or gone"
    );
}
