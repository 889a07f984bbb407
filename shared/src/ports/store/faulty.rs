//! A store that fails chosen calls: the fault switch of the local stack
//! (`servicekanal dev --faults store=...`) and of tests of retries and partial failures.
//!
//! Each call asks its [`StoreFaults`] first. A write may fail before it reaches the store
//! (a throttled or refused request: nothing changed) or after it took effect (a timeout whose
//! write went through: the caller sees an error, the store has the change), the two ways a
//! DynamoDB call fails from the caller's side.

use super::{
    DeletionReport, DueItem, Hold, Page, PageRequest, Record, Released, Store, StoreError, Write,
};
use crate::domain::keys::ItemKey;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// How an injected failure strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injected {
    /// Refused before anything changed (throttling, a dropped request).
    Before,
    /// The write took effect, the answer was lost (a timeout after the write).
    AfterApplying,
}

/// Decides which calls fail. The key is the item's for item calls, the partition's (`pk|`)
/// for partition calls, and empty for the indexes.
pub trait StoreFaults: Send + Sync {
    fn before(&self, operation: &'static str, key: &ItemKey) -> Option<Injected>;

    /// A write took effect (whether or not its answer is then lost): crash points count these.
    fn applied(&self, _operation: &'static str) {}
}

/// Fails the calls a predicate picks, before they reach the store.
struct Picked<F>(F);

impl<F> StoreFaults for Picked<F>
where
    F: Fn(&str, &ItemKey) -> bool + Send + Sync,
{
    fn before(&self, operation: &'static str, key: &ItemKey) -> Option<Injected> {
        (self.0)(operation, key).then_some(Injected::Before)
    }
}

pub struct FaultyStore {
    pub inner: Arc<dyn Store>,
    faults: Box<dyn StoreFaults>,
    latency: Duration,
}

impl FaultyStore {
    /// Fails the calls `fails(operation, key)` picks, before they reach the store.
    pub fn new(
        inner: Arc<dyn Store>,
        fails: impl Fn(&str, &ItemKey) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::with_faults(inner, Picked(fails))
    }

    pub fn with_faults(inner: Arc<dyn Store>, faults: impl StoreFaults + 'static) -> Self {
        Self {
            inner,
            faults: Box::new(faults),
            latency: Duration::ZERO,
        }
    }

    /// Every call takes `latency` longer (and none fails): a remote store's round trip, for
    /// benchmarks.
    pub fn with_latency(inner: Arc<dyn Store>, latency: Duration) -> Self {
        Self {
            latency,
            ..Self::new(inner, |_, _| false)
        }
    }

    /// One call's round trip: the latency, then what the faults decide.
    async fn ask(&self, operation: &'static str, key: &ItemKey) -> Option<Injected> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        self.faults.before(operation, key)
    }

    /// A read: fails before, or passes.
    async fn read(&self, operation: &'static str, key: &ItemKey) -> Result<(), StoreError> {
        match self.ask(operation, key).await {
            Some(_) => Err(injected(operation, Injected::Before)),
            None => Ok(()),
        }
    }

    /// A write: fails before, fails after taking effect, or passes.
    async fn write<T, Fut>(
        &self,
        operation: &'static str,
        key: &ItemKey,
        call: Fut,
    ) -> Result<T, StoreError>
    where
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let fault = self.ask(operation, key).await;
        if fault == Some(Injected::Before) {
            return Err(injected(operation, Injected::Before));
        }
        let result = call.await;
        if result.is_ok() {
            self.faults.applied(operation);
        }
        match fault {
            Some(Injected::AfterApplying) if result.is_ok() => {
                Err(injected(operation, Injected::AfterApplying))
            }
            _ => result,
        }
    }
}

fn injected(operation: &str, how: Injected) -> StoreError {
    StoreError::Backend(match how {
        Injected::Before => format!("injected failure of {operation}"),
        Injected::AfterApplying => format!("injected timeout of {operation} after it took effect"),
    })
}

fn none() -> ItemKey {
    ItemKey::new("", "")
}

#[async_trait]
impl Store for FaultyStore {
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.write("create", &record.key, self.inner.create(record))
            .await
    }
    async fn get(&self, key: &ItemKey) -> Result<Option<Record>, StoreError> {
        self.read("get", key).await?;
        self.inner.get(key).await
    }
    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        page: PageRequest,
    ) -> Result<Page<Record>, StoreError> {
        self.read("query", &ItemKey::new(pk, "")).await?;
        self.inner.query(pk, sk_prefix, page).await
    }
    async fn update(&self, record: &Record) -> Result<Record, StoreError> {
        self.write("update", &record.key, self.inner.update(record))
            .await
    }
    async fn write_all(&self, writes: &[Write]) -> Result<(), StoreError> {
        // A transaction fails as a whole: any of its keys picked fails all of it.
        let mut fault = self.ask("write_all", &none()).await;
        for write in writes {
            if fault.is_some() {
                break;
            }
            fault = self.faults.before("write_all", write.key());
        }
        if fault == Some(Injected::Before) {
            return Err(injected("write_all", Injected::Before));
        }
        let result = self.inner.write_all(writes).await;
        if result.is_ok() {
            self.faults.applied("write_all");
        }
        match fault {
            Some(Injected::AfterApplying) if result.is_ok() => {
                Err(injected("write_all", Injected::AfterApplying))
            }
            _ => result,
        }
    }
    async fn delete(&self, key: &ItemKey) -> Result<Option<Record>, StoreError> {
        self.write("delete", key, self.inner.delete(key)).await
    }
    async fn delete_due(&self, key: &ItemKey) -> Result<Option<Record>, StoreError> {
        self.write("delete_due", key, self.inner.delete_due(key))
            .await
    }
    async fn set_deadline(
        &self,
        key: &ItemKey,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.write("set_deadline", key, self.inner.set_deadline(key, from, to))
            .await
    }
    async fn delete_partition(&self, pk: &str) -> Result<DeletionReport, StoreError> {
        self.write(
            "delete_partition",
            &ItemKey::new(pk, ""),
            self.inner.delete_partition(pk),
        )
        .await
    }
    async fn place_hold(&self, key: &ItemKey, hold: Hold) -> Result<Record, StoreError> {
        self.write("place_hold", key, self.inner.place_hold(key, hold))
            .await
    }
    async fn release_hold(&self, key: &ItemKey) -> Result<Released, StoreError> {
        self.write("release_hold", key, self.inner.release_hold(key))
            .await
    }
    async fn list_holds(&self, page: PageRequest) -> Result<Page<Record>, StoreError> {
        self.read("list_holds", &none()).await?;
        self.inner.list_holds(page).await
    }
    async fn list_owned(
        &self,
        owner: &str,
        page: PageRequest,
    ) -> Result<Page<ItemKey>, StoreError> {
        self.read("list_owned", &none()).await?;
        self.inner.list_owned(owner, page).await
    }
    async fn list_due(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<DueItem>, StoreError> {
        self.read("list_due", &none()).await?;
        self.inner.list_due(since, until, page).await
    }
}
