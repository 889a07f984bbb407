//! Test harness: a store of either adapter, with a controllable clock and its change feed.

#![allow(dead_code)]

use aws_lambda_events::event::dynamodb::EventRecord;
use chrono::{DateTime, Utc};
use servicekanal_shared::clock::ManualClock;
use servicekanal_shared::store::dynamodb::{DynamoChangeFeed, DynamoStore};
use servicekanal_shared::store::embedded::EmbeddedStore;
use servicekanal_shared::store::{ChangeFeed, Store};
use servicekanal_shared::test_support::{moto_config, moto_table};
use std::sync::Arc;

pub struct Harness {
    pub store: Arc<dyn Store>,
    pub clock: ManualClock,
    pub feed: Box<dyn ChangeFeed>,
    pub embedded: Option<EmbeddedStore>,
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    /// Polls the feed until `expected` records arrived (streams may lag a moment), then once
    /// more to make sure nothing else follows.
    pub async fn drain_feed(&mut self, expected: usize) -> Vec<EventRecord> {
        let mut out = Vec::new();
        for _ in 0..50 {
            out.extend(self.feed.poll(1000).await.expect("feed readable"));
            if out.len() >= expected {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        out.extend(self.feed.poll(1000).await.expect("feed readable"));
        out
    }
}

/// A fixed, whole-second start time, so deadlines are exact.
pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub async fn embedded() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(start_time());
    let store = EmbeddedStore::open(dir.path(), Arc::new(clock.clone())).unwrap();
    Harness {
        store: Arc::new(store.clone()),
        clock,
        feed: Box::new(store.change_feed(None)),
        embedded: Some(store),
        _dir: Some(dir),
    }
}

pub async fn dynamodb() -> Harness {
    let config = moto_config().await;
    let (client, table) = moto_table(&config).await;
    let stream_arn = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .and_then(|t| t.latest_stream_arn)
        .expect("the table has a stream");
    let clock = ManualClock::new(start_time());
    let store = DynamoStore::new(client, &table, Arc::new(clock.clone()));
    let feed = DynamoChangeFeed::new(
        aws_sdk_dynamodbstreams::Client::new(&config),
        stream_arn,
        "eu-central-1",
    );
    Harness {
        store: Arc::new(store),
        clock,
        feed: Box::new(feed),
        embedded: None,
        _dir: None,
    }
}
