//! voice-intake on its AWS adapters: the table and the sales FIFO queue in moto.

use chrono::DateTime;
use servicekanal_shared::domain::callback::CallbackCatalogue;
use servicekanal_shared::ports::clock::{Clock, ManualClock};
use servicekanal_shared::ports::queue::Queue;
use servicekanal_shared::ports::queue::sqs::SqsQueue;
use servicekanal_shared::ports::store::dynamodb::DynamoStore;
use servicekanal_testing::{moto_config, moto_queue, moto_table};
use std::sync::Arc;
use voice_intake::{Ports, SalesCallback, handle, list_open, mark_done};

fn sample(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/../../events/voice-intake/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn a_retried_connect_call_makes_one_item_and_one_sales_message_then_done_deletes_it() {
    let config = moto_config().await;
    let (dynamo, table) = moto_table(&config).await;
    let (sqs, url) = moto_queue(&config, "sales-callbacks", true).await;
    let clock = ManualClock::new(DateTime::from_timestamp(1_795_251_600, 0).unwrap());
    let store = Arc::new(DynamoStore::new(dynamo, table, Arc::new(clock.clone())));
    let sales = Arc::new(SqsQueue::new(sqs, url));
    let ports = Ports {
        store: store.clone(),
        sales_queue: sales.clone(),
        clock: Arc::new(clock.clone()),
        catalogue: CallbackCatalogue::embedded(),
        pseudonymizer: servicekanal_testing::test_pseudonymizer(),
    };
    let first = handle(sample("connect-callback"), &ports).await.unwrap();
    let retry = handle(sample("connect-retry"), &ports).await.unwrap();
    assert_eq!(first["status"], "ok");
    assert_eq!(first, retry);

    let received = sales.receive(10).await.unwrap();
    assert_eq!(
        received.len(),
        1,
        "SQS deduplicates the retry per Connect contact"
    );
    let message: SalesCallback =
        serde_json::from_str(received[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(message.reference, first["reference"]);
    assert_eq!(message.phone, "+4917612345678");

    let open = list_open(store.as_ref()).await.unwrap();
    assert_eq!(open.len(), 1);
    mark_done(store.as_ref(), &message.reference, clock.now())
        .await
        .unwrap();
    assert!(list_open(store.as_ref()).await.unwrap().is_empty());
}
