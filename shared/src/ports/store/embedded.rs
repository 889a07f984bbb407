//! The embedded store: a redb file under the data folder, the default of the local stack.
//!
//! Every write commits the item, its expiry-index entry and its change record in one
//! transaction, so the change feed never misses or invents a change. The feed hands out
//! DynamoDB stream events, built when read ([`changes`]); like DynamoDB's stream it keeps
//! changes for 24 hours.
//!
//! Writes go to one writer thread that commits whatever writes are waiting in one durable
//! transaction (group commit): each write is applied behind a savepoint (rolled back alone if
//! its condition fails) and answered only after the commit reached the disk. A commit's
//! `fsync` costs milliseconds; one per write would cap the local stack at a few hundred
//! writes a second, one per group does not.

mod changes;

use super::{
    ChangeFeed, Data, DeletionReport, DueItem, Hold, Page, PageRequest, Record, Released, Store,
    StoreError, TTL_PRINCIPAL, Write, check_transaction, codec, decode_token, encode_token, item,
};
use crate::domain::keys::{ItemKey, attr};
use crate::policy::retention::RetentionClass;
use crate::ports::clock::SharedClock;
use crate::ports::queue::QueueError;
use crate::ports::queue::memory::{Kept, QueueJournal};
use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use changes::{Change, Event};
use chrono::{DateTime, Duration, Utc};
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use serde_dynamo::Item;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// `pk \0 sk` -> the item's attributes ([`codec`]).
const ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("items");
/// (`expires_at`, `pk \0 sk`) -> retention class id.
const EXPIRY: TableDefinition<(i64, &str), &str> = TableDefinition::new("expiry");
/// (owner, `pk \0 sk`): the owner index.
const OWNED: TableDefinition<(&str, &str), ()> = TableDefinition::new("owned");
/// (hold placed at, epoch milliseconds, `pk \0 sk`): the hold index.
const HOLDS: TableDefinition<(i64, &str), ()> = TableDefinition::new("holds");
/// sequence number -> change record as JSON.
const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// (queue, send order) -> a journalled queue message (the local stack's durable queues).
const QUEUED: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queued");
/// (queue, seen at, epoch milliseconds, deduplication id): FIFO deduplication ids.
const QUEUE_DEDUP: TableDefinition<(&str, i64, &str), ()> = TableDefinition::new("queue_dedup");
const NEXT_SEQUENCE: &str = "next_sequence";

const SEP: &str = "\0";
/// How long change records stay, as in a DynamoDB stream.
const CHANGE_RETENTION_HOURS: i64 = 24;
pub const LOCAL_REGION: &str = "local";
/// The table name the local change feed's ARNs carry.
const LOCAL_TABLE: &str = "servicekanal";

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    clock: SharedClock,
    path: PathBuf,
    writer: std::sync::mpsc::Sender<Job>,
    /// How many times the store has committed (counted after each commit, before anyone
    /// learns of it).
    commits: Arc<AtomicU64>,
    /// The items table of the latest read transaction and the commit count read before it
    /// was opened: reads with no commit in between (a request's marker, link and profile)
    /// share it instead of each opening a transaction and the table. The first read after a
    /// commit replaces it, so it holds back no page for longer than that.
    snapshot: Arc<Mutex<Option<Snapshot>>>,
}

type ItemsTable = redb::ReadOnlyTable<&'static str, &'static [u8]>;
/// The items table, and the commit count read before it was opened.
type Snapshot = (u64, Arc<ItemsTable>);

type Applied = Box<dyn std::any::Any + Send>;
type Apply = Box<dyn Fn(&mut Tables<'_>) -> Result<Applied, StoreError> + Send>;

/// The tables of a write transaction, each opened when first used and then kept for all the
/// writes of a group: each write opened up to six of them again, a fifth of the writer
/// thread's work when a group holds many writes. Only what a group uses is opened (a group of
/// queue journal writes touches none of these). redb refuses a table opened twice in one
/// transaction, so every write path goes through these (the queue journal's tables, used by
/// nothing else, are opened from `txn`).
struct Tables<'txn> {
    txn: &'txn WriteTransaction,
    items: Option<redb::Table<'txn, &'static str, &'static [u8]>>,
    expiry: Option<redb::Table<'txn, (i64, &'static str), &'static str>>,
    owned: Option<redb::Table<'txn, (&'static str, &'static str), ()>>,
    holds: Option<redb::Table<'txn, (i64, &'static str), ()>>,
    changes: Option<redb::Table<'txn, u64, &'static [u8]>>,
    meta: Option<redb::Table<'txn, &'static str, u64>>,
}

type Opened<'a, 'txn, K, V> = Result<&'a mut redb::Table<'txn, K, V>, StoreError>;

/// `slot`'s table, opened now if it is not yet.
fn opened<'a, 'txn, K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &'txn WriteTransaction,
    slot: &'a mut Option<redb::Table<'txn, K, V>>,
    table: TableDefinition<'static, K, V>,
) -> Opened<'a, 'txn, K, V> {
    match slot {
        Some(open) => Ok(open),
        None => Ok(slot.insert(txn.open_table(table).map_err(backend)?)),
    }
}

impl<'txn> Tables<'txn> {
    fn new(txn: &'txn WriteTransaction) -> Self {
        Tables {
            txn,
            items: None,
            expiry: None,
            owned: None,
            holds: None,
            changes: None,
            meta: None,
        }
    }

    fn items(&mut self) -> Opened<'_, 'txn, &'static str, &'static [u8]> {
        opened(self.txn, &mut self.items, ITEMS)
    }

    fn expiry(&mut self) -> Opened<'_, 'txn, (i64, &'static str), &'static str> {
        opened(self.txn, &mut self.expiry, EXPIRY)
    }

    fn owned(&mut self) -> Opened<'_, 'txn, (&'static str, &'static str), ()> {
        opened(self.txn, &mut self.owned, OWNED)
    }

    fn holds(&mut self) -> Opened<'_, 'txn, (i64, &'static str), ()> {
        opened(self.txn, &mut self.holds, HOLDS)
    }

    fn changes(&mut self) -> Opened<'_, 'txn, u64, &'static [u8]> {
        opened(self.txn, &mut self.changes, CHANGES)
    }

    fn meta(&mut self) -> Opened<'_, 'txn, &'static str, u64> {
        opened(self.txn, &mut self.meta, META)
    }
}

/// One write for the writer thread: applied to the group's transaction (again, if another
/// write of the group failed and the group was rolled back), then answered.
struct Job {
    apply: Apply,
    answer: tokio::sync::oneshot::Sender<Result<Applied, StoreError>>,
}

/// Writes one group commits at most (a bound on a group's latency).
const GROUP_LIMIT: usize = 256;

/// Commits the waiting writes in groups until every store handle is gone. It holds the
/// database only while committing, so a closed store can be opened again at once.
fn run_writer(
    db: std::sync::Weak<Database>,
    jobs: std::sync::mpsc::Receiver<Job>,
    commits: Arc<AtomicU64>,
) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_LIMIT {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let answers = match db.upgrade() {
            Some(db) => commit_group(&db, group),
            None => group
                .into_iter()
                .map(|job| (job.answer, Err(backend("the store is closed"))))
                .collect(),
        };
        commits.fetch_add(1, Ordering::Release);
        // Answered after the commit and after letting go of the database.
        for (answer, result) in answers {
            let _ = answer.send(result);
        }
    }
}

type Answer = (
    tokio::sync::oneshot::Sender<Result<Applied, StoreError>>,
    Result<Applied, StoreError>,
);

/// Applies the group's writes in order in one transaction and commits it. A write that fails
/// (its condition, or the backend) rolls the transaction back, gets its error, and the rest
/// of the group is applied again without it: no write sees another's half-done work.
fn commit_group(db: &Database, mut group: Vec<Job>) -> Vec<Answer> {
    let mut answers = Vec::with_capacity(group.len());
    loop {
        let txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(e) => {
                let error = e.to_string();
                answers.extend(
                    group
                        .into_iter()
                        .map(|job| (job.answer, Err(StoreError::Backend(error.clone())))),
                );
                return answers;
            }
        };
        let mut tables = Tables::new(&txn);
        let mut applied = Vec::with_capacity(group.len());
        let mut failed = None;
        for (at, job) in group.iter().enumerate() {
            match (job.apply)(&mut tables) {
                Ok(value) => applied.push(value),
                Err(error) => {
                    failed = Some((at, error));
                    break;
                }
            }
        }
        drop(tables);
        if let Some((at, error)) = failed {
            drop(txn); // rolled back
            answers.push((group.remove(at).answer, Err(error)));
            if group.is_empty() {
                // Nothing left to commit: a refused write costs no fsync.
                return answers;
            }
            continue;
        }
        let committed = txn.commit().map_err(|e| e.to_string());
        for (job, value) in group.into_iter().zip(applied) {
            let result = match &committed {
                Ok(()) => Ok(value),
                Err(e) => Err(StoreError::Backend(e.clone())),
            };
            answers.push((job.answer, result));
        }
        return answers;
    }
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish()
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Every read and write builds one: concatenated, not formatted (about 1 % of a webhook
/// request went into `format!` here).
fn storage_key(key: &ItemKey) -> String {
    [key.pk.as_str(), SEP, key.sk.as_str()].concat()
}

/// A stored item's record: its own attributes read in place and its body kept encoded, or
/// (an item of an earlier release, DynamoDB JSON) decoded.
fn record_of(bytes: &[u8]) -> Result<Record, StoreError> {
    match codec::view(bytes).map_err(|e| StoreError::Decode(e.to_string()))? {
        Some(view) => {
            let body = view.value(attr::DATA).filter(|value| codec::is_map(value));
            Ok(item::with_data(
                &view,
                body.map(|body| Data::Encoded(body.into())),
            )?)
        }
        None => Record::from_owned_item(decode_item(bytes)?),
    }
}

fn decode_item(bytes: &[u8]) -> Result<Item, StoreError> {
    codec::decode(bytes).map_err(|e| StoreError::Decode(e.to_string()))
}

/// The page token of a (time, storage key) index position: the expiry and hold indexes.
fn position_token(at: i64, key: &str) -> Result<String, StoreError> {
    encode_token(&(at, key))
}

/// Where a page after `token` starts in a (time, storage key) index: just past its position.
fn after_position(token: &str) -> Result<(i64, String), StoreError> {
    let (at, key): (i64, String) = decode_token(token)?;
    Ok((at, format!("{key}{SEP}")))
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `data_dir/store.redb`.
    pub fn open(data_dir: &Path, clock: SharedClock) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(backend)?;
        let path = data_dir.join("store.redb");
        let db = Database::create(&path).map_err(backend)?;
        let txn = db.begin_write().map_err(backend)?;
        {
            txn.open_table(ITEMS).map_err(backend)?;
            txn.open_table(EXPIRY).map_err(backend)?;
            txn.open_table(OWNED).map_err(backend)?;
            txn.open_table(HOLDS).map_err(backend)?;
            txn.open_table(CHANGES).map_err(backend)?;
            txn.open_table(META).map_err(backend)?;
            txn.open_table(QUEUED).map_err(backend)?;
            txn.open_table(QUEUE_DEDUP).map_err(backend)?;
        }
        txn.commit().map_err(backend)?;
        let db = Arc::new(db);
        let (writer, jobs) = std::sync::mpsc::channel();
        let writing = Arc::downgrade(&db);
        let commits = Arc::new(AtomicU64::new(0));
        let counting = commits.clone();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run_writer(writing, jobs, counting))
            .map_err(backend)?;
        Ok(Self {
            db,
            clock,
            path,
            writer,
            commits,
            snapshot: Arc::default(),
        })
    }

    /// Runs `op` in the writer's next group commit; its result once the group is durable.
    /// `op` may run more than once (when another write of its group fails); only the run that
    /// is committed counts.
    async fn write<R, F>(&self, op: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Fn(&EmbeddedStore, &mut Tables<'_>) -> Result<R, StoreError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let store = self.clone();
        let job = Job {
            apply: Box::new(move |tables| op(&store, tables).map(|r| Box::new(r) as Applied)),
            answer,
        };
        self.writer
            .send(job)
            .map_err(|_| backend("the store's writer has stopped"))?;
        let applied = answered
            .await
            .map_err(|_| backend("the store's writer dropped a write"))??;
        applied
            .downcast::<R>()
            .map(|r| *r)
            .map_err(|_| backend("the store's writer answered another write"))
    }

    /// [`Store::write_all`] of writes already checked and owned: a single write is copied
    /// once on its way to the writer, not again.
    async fn commit_writes(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.write(move |store, txn| store.write_all_in(txn, &writes, now))
            .await
    }

    /// The change feed from the beginning of what is kept (`after = None`) or after a sequence
    /// number a consumer saw last.
    pub fn change_feed(&self, after: Option<u64>) -> EmbeddedChangeFeed {
        EmbeddedChangeFeed {
            db: self.db.clone(),
            after: after.unwrap_or(0),
        }
    }

    /// Every readable item, in key order: what the local stack's records panel shows.
    pub fn readable_items(&self) -> Result<Vec<Record>, StoreError> {
        let now = self.clock.now();
        let txn = self.read()?;
        let items = txn.open_table(ITEMS).map_err(backend)?;
        let mut found = Vec::new();
        for entry in items.iter().map_err(backend)? {
            let (_, v) = entry.map_err(backend)?;
            let record = Record::from_owned_item(decode_item(v.value())?)?;
            if record.is_readable_at(now) {
                found.push(record);
            }
        }
        Ok(found)
    }

    /// Does what DynamoDB's TTL does, some time after the deadlines: removes expired items
    /// and records the removals with the service identity. Returns how many it removed.
    pub fn expire_by_ttl(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let txn = self.db.begin_write().map_err(backend)?;
        let mut tables = Tables::new(&txn);
        let due: Vec<String> = {
            let mut keys = Vec::new();
            for entry in tables
                .expiry()?
                .range((i64::MIN, "")..=(now.timestamp(), "\u{10FFFF}"))
                .map_err(backend)?
            {
                let (k, _) = entry.map_err(backend)?;
                keys.push(k.value().1.to_owned());
            }
            keys
        };
        for key in &due {
            self.remove_in(&mut tables, key, true, |_| Ok(true))?;
        }
        drop(tables);
        txn.commit().map_err(backend)?;
        self.commits.fetch_add(1, Ordering::Release);
        Ok(due.len() as u64)
    }

    /// [`Store::write_all`] in the writer's transaction: every condition checked before the
    /// first write.
    fn write_all_in(
        &self,
        tables: &mut Tables<'_>,
        writes: &[Write],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Check every condition before the first write; a failed write rolls the group back.
        let mut olds = Vec::with_capacity(writes.len());
        for write in writes {
            let old = Self::stored_pair(tables, &storage_key(write.key()))?;
            let stored = old.as_ref().map(|(_, record)| record);
            if stored.is_some_and(|r| r.hold.is_some()) {
                return Err(StoreError::Held(write.key().clone()));
            }
            let current = stored.filter(|r| !r.is_expired_at(now));
            match (write, current) {
                (Write::Create(r), Some(_)) => {
                    return Err(StoreError::AlreadyExists(r.key.clone()));
                }
                (Write::Update(r), None) => return Err(StoreError::NotFound(r.key.clone())),
                (Write::Update(r), Some(current)) if current.version != r.version => {
                    return Err(StoreError::VersionConflict {
                        key: r.key.clone(),
                        expected: r.version,
                    });
                }
                _ => {}
            }
            olds.push(old);
        }
        for (write, old) in writes.iter().zip(olds) {
            self.write_in(tables, &write.committed(), old)?;
        }
        Ok(())
    }

    /// [`Store::delete_partition`] in the writer's transaction.
    fn delete_partition_in(
        &self,
        tables: &mut Tables<'_>,
        prefix: &str,
    ) -> Result<DeletionReport, StoreError> {
        let keys: Vec<String> = {
            let items = tables.items()?;
            let mut keys = Vec::new();
            for entry in items.range(prefix..).map_err(backend)? {
                let (k, _) = entry.map_err(backend)?;
                if !k.value().starts_with(prefix) {
                    break;
                }
                keys.push(k.value().to_owned());
            }
            keys
        };
        let mut report = DeletionReport::default();
        for key in keys {
            let removed = self.remove_in(tables, &key, false, |r| {
                if r.hold.is_some() {
                    report.held += 1;
                }
                Ok(r.hold.is_none())
            })?;
            if let Some(record) = removed {
                report.add(record.retention);
            }
        }
        Ok(report)
    }

    fn read(&self) -> Result<ReadTransaction, StoreError> {
        self.db.begin_read().map_err(backend)
    }

    /// The items table as of now: the kept one if nothing was committed since it was opened.
    fn items(&self) -> Result<Arc<ItemsTable>, StoreError> {
        let commits = self.commits.load(Ordering::Acquire);
        let mut kept = self
            .snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((seen, table)) = kept.as_ref()
            && *seen == commits
        {
            return Ok(table.clone());
        }
        let table = Arc::new(self.read()?.open_table(ITEMS).map_err(backend)?);
        *kept = Some((commits, table.clone()));
        Ok(table)
    }

    /// What `read` makes of the stored bytes of `key`, if there are any.
    fn read_item<T>(
        &self,
        key: &ItemKey,
        read: impl FnOnce(&[u8]) -> Result<Option<T>, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let items = self.items()?;
        match items.get(storage_key(key).as_str()).map_err(backend)? {
            Some(bytes) => read(bytes.value()),
            None => Ok(None),
        }
    }

    /// Writes `record` over what is stored at its key (`old`, as read in this transaction),
    /// keeping the indexes and the feed in step.
    fn write_in(
        &self,
        tables: &mut Tables<'_>,
        record: &Record,
        old: Option<(Vec<u8>, Record)>,
    ) -> Result<(), StoreError> {
        let key = storage_key(&record.key);
        let new = codec::encode_record(record).map_err(|e| StoreError::Encode(e.to_string()))?;
        tables
            .items()?
            .insert(key.as_str(), new.as_slice())
            .map_err(backend)?;
        let old = match old {
            Some((bytes, stored)) => {
                Self::unindex(tables, &key, &stored)?;
                Some(bytes)
            }
            None => None,
        };
        Self::index(tables, &key, record)?;
        let event = match old {
            Some(_) => Event::Modify,
            None => Event::Insert,
        };
        self.append_change(
            tables,
            event,
            &record.key,
            old.as_deref(),
            Some(&new),
            false,
        )
    }

    /// Adds an item's entries to the indexes, as DynamoDB's sparse indexes would hold them.
    fn index(tables: &mut Tables<'_>, key: &str, record: &Record) -> Result<(), StoreError> {
        match &record.hold {
            None => {
                let expiry = tables.expiry()?;
                expiry
                    .insert((record.expires_at.timestamp(), key), record.retention.id())
                    .map_err(backend)?;
            }
            Some(hold) => {
                let holds = tables.holds()?;
                holds
                    .insert((hold.placed_at.timestamp_millis(), key), ())
                    .map_err(backend)?;
            }
        }
        if let Some(owner) = &record.owner {
            let owned = tables.owned()?;
            owned.insert((owner.as_str(), key), ()).map_err(backend)?;
        }
        Ok(())
    }

    fn unindex(tables: &mut Tables<'_>, key: &str, record: &Record) -> Result<(), StoreError> {
        match &record.hold {
            None => {
                let expiry = tables.expiry()?;
                expiry
                    .remove((record.expires_at.timestamp(), key))
                    .map_err(backend)?;
            }
            Some(hold) => {
                let holds = tables.holds()?;
                holds
                    .remove((hold.placed_at.timestamp_millis(), key))
                    .map_err(backend)?;
            }
        }
        if let Some(owner) = &record.owner {
            let owned = tables.owned()?;
            owned.remove((owner.as_str(), key)).map_err(backend)?;
        }
        Ok(())
    }

    /// Removes one item by storage key if `take` accepts it (an `Err` aborts); returns its
    /// record.
    fn remove_in(
        &self,
        tables: &mut Tables<'_>,
        key: &str,
        by_ttl: bool,
        take: impl FnOnce(&Record) -> Result<bool, StoreError>,
    ) -> Result<Option<Record>, StoreError> {
        let Some((old, record)) = Self::stored_pair(tables, key)? else {
            return Ok(None);
        };
        if !take(&record)? {
            return Ok(None);
        }
        self.remove_stored(tables, key, old, &record, by_ttl)?;
        Ok(Some(record))
    }

    /// Removes the item stored at `key` (`old`, as read in this transaction, and its record).
    fn remove_stored(
        &self,
        tables: &mut Tables<'_>,
        key: &str,
        old: Vec<u8>,
        record: &Record,
        by_ttl: bool,
    ) -> Result<(), StoreError> {
        tables.items()?.remove(key).map_err(backend)?;
        Self::unindex(tables, key, record)?;
        self.append_change(tables, Event::Remove, &record.key, Some(&old), None, by_ttl)
    }

    /// The item at a key as stored (its bytes, the change record's old image) and as a
    /// record, held or expired alike.
    fn stored_pair(
        tables: &mut Tables<'_>,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Record)>, StoreError> {
        let Some(found) = tables.items()?.get(key).map_err(backend)? else {
            return Ok(None);
        };
        let bytes = found.value().to_vec();
        let record = record_of(&bytes)?;
        Ok(Some((bytes, record)))
    }

    fn append_change(
        &self,
        tables: &mut Tables<'_>,
        event: Event,
        key: &ItemKey,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
        by_ttl: bool,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let sequence = {
            let meta = tables.meta()?;
            let next = meta
                .get(NEXT_SEQUENCE)
                .map_err(backend)?
                .map(|v| v.value())
                .unwrap_or(1);
            meta.insert(NEXT_SEQUENCE, next + 1).map_err(backend)?;
            next
        };
        let bytes = changes::encode(&Change {
            at: now,
            event,
            by_ttl,
            key,
            old,
            new,
        })?;
        let changes = tables.changes()?;
        changes
            .insert(sequence, bytes.as_slice())
            .map_err(backend)?;
        // Drop change records older than the stream keeps them: they hold personal data too.
        let horizon = now - Duration::hours(CHANGE_RETENTION_HOURS);
        loop {
            let oldest = match changes.first().map_err(backend)? {
                Some((seq, value)) => {
                    (changes::created_at(value.value()) < horizon).then(|| seq.value())
                }
                None => None,
            };
            match oldest {
                Some(seq) => {
                    changes.remove(seq).map_err(backend)?;
                }
                None => break,
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.commit_writes(vec![Write::Create(record.clone())])
            .await
    }

    async fn write_all(&self, writes: &[Write]) -> Result<(), StoreError> {
        check_transaction(writes)?;
        self.commit_writes(writes.to_vec()).await
    }

    async fn get(&self, key: &ItemKey) -> Result<Option<Record>, StoreError> {
        let now = self.clock.now();
        self.read_item(key, |bytes| {
            let record = record_of(bytes)?;
            Ok(record.is_readable_at(now).then_some(record))
        })
    }

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        page: PageRequest,
    ) -> Result<Page<Record>, StoreError> {
        let limit = page.checked_limit()? as usize;
        let now = self.clock.now();
        let prefix = format!("{pk}{SEP}{sk_prefix}");
        let start = match &page.token {
            Some(token) => {
                let last_sk: String = decode_token(token)?;
                if !last_sk.starts_with(sk_prefix) {
                    return Err(StoreError::InvalidPageToken);
                }
                // Just after the last key returned.
                format!("{pk}{SEP}{last_sk}{SEP}")
            }
            None => prefix.clone(),
        };
        let txn = self.read()?;
        let items = txn.open_table(ITEMS).map_err(backend)?;
        let mut found = Vec::new();
        let mut more = false;
        for entry in items.range(start.as_str()..).map_err(backend)? {
            let (k, v) = entry.map_err(backend)?;
            if !k.value().starts_with(&prefix) {
                break;
            }
            let record = Record::from_owned_item(decode_item(v.value())?)?;
            if !record.is_readable_at(now) {
                continue;
            }
            if found.len() == limit {
                more = true;
                break;
            }
            found.push(record);
        }
        let next = match (more, found.last()) {
            (true, Some(last)) => Some(encode_token(&last.key.sk)?),
            _ => None,
        };
        Ok(Page { items: found, next })
    }

    async fn update(&self, record: &Record) -> Result<Record, StoreError> {
        let write = Write::Update(record.clone());
        let committed = write.committed();
        self.commit_writes(vec![write]).await?;
        Ok(committed)
    }

    async fn delete(&self, key: &ItemKey) -> Result<Option<Record>, StoreError> {
        let key = key.clone();
        self.write(move |store, tables| {
            store.remove_in(tables, &storage_key(&key), false, |r| match r.hold {
                Some(_) => Err(StoreError::Held(key.clone())),
                None => Ok(true),
            })
        })
        .await
    }

    async fn delete_due(&self, key: &ItemKey) -> Result<Option<Record>, StoreError> {
        let now = self.clock.now();
        let key = storage_key(key);
        self.write(move |store, tables| {
            store.remove_in(tables, &key, false, |r| {
                Ok(r.hold.is_none() && r.is_expired_at(now))
            })
        })
        .await
    }

    async fn set_deadline(
        &self,
        key: &ItemKey,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let storage = storage_key(key);
        self.write(move |store, tables| {
            let Some((old, stored)) = Self::stored_pair(tables, &storage)? else {
                return Ok(false);
            };
            if stored.hold.is_some() || stored.expires_at.timestamp() != from.timestamp() {
                return Ok(false);
            }
            let record = Record {
                expires_at: crate::ports::clock::whole_seconds(to),
                version: stored.version + 1,
                ..stored.clone()
            };
            store.write_in(tables, &record, Some((old, stored)))?;
            Ok(true)
        })
        .await
    }

    async fn place_hold(&self, key: &ItemKey, hold: Hold) -> Result<Record, StoreError> {
        let now = self.clock.now();
        let key = key.clone();
        self.write(move |store, tables| {
            let Some((old, stored)) = Self::stored_pair(tables, &storage_key(&key))? else {
                return Err(StoreError::NotFound(key.clone()));
            };
            if stored.hold.is_some() {
                return Ok(stored);
            }
            if stored.is_expired_at(now) {
                return Err(StoreError::NotFound(key.clone()));
            }
            let record = Record {
                hold: Some(hold.clone()),
                version: stored.version + 1,
                ..stored.clone()
            };
            store.write_in(tables, &record, Some((old, stored)))?;
            Ok(record)
        })
        .await
    }

    async fn release_hold(&self, key: &ItemKey) -> Result<Released, StoreError> {
        let now = self.clock.now();
        let key = key.clone();
        self.write(move |store, tables| {
            let storage = storage_key(&key);
            let Some((old, stored)) = Self::stored_pair(tables, &storage)? else {
                return Err(StoreError::NotFound(key.clone()));
            };
            if stored.hold.is_none() {
                return Err(StoreError::NotHeld(key.clone()));
            }
            let released = Record {
                hold: None,
                ..stored.clone()
            };
            if released.is_expired_at(now) {
                // Removed as stored: its index entry is the hold's.
                store.remove_stored(tables, &storage, old, &stored, false)?;
                Ok(Released::Deleted(released))
            } else {
                let restored = Record {
                    version: stored.version + 1,
                    ..released
                };
                store.write_in(tables, &restored, Some((old, stored)))?;
                Ok(Released::Restored(restored))
            }
        })
        .await
    }

    async fn list_holds(&self, page: PageRequest) -> Result<Page<Record>, StoreError> {
        let limit = page.checked_limit()? as usize;
        let start = match &page.token {
            Some(token) => after_position(token)?,
            None => (i64::MIN, String::new()),
        };
        let txn = self.read()?;
        let holds = txn.open_table(HOLDS).map_err(backend)?;
        let items = txn.open_table(ITEMS).map_err(backend)?;
        let mut found = Vec::new();
        let mut last = None;
        let mut more = false;
        for entry in holds
            .range((start.0, start.1.as_str())..)
            .map_err(backend)?
        {
            let (k, _) = entry.map_err(backend)?;
            if found.len() == limit {
                more = true;
                break;
            }
            let (at, key) = k.value();
            if let Some(bytes) = items.get(key).map_err(backend)? {
                found.push(Record::from_owned_item(decode_item(bytes.value())?)?);
            }
            last = Some(position_token(at, key)?);
        }
        let next = match (more, last) {
            (true, Some(last)) => Some(last),
            _ => None,
        };
        Ok(Page { items: found, next })
    }

    async fn list_owned(
        &self,
        owner: &str,
        page: PageRequest,
    ) -> Result<Page<ItemKey>, StoreError> {
        let limit = page.checked_limit()? as usize;
        let start = match &page.token {
            Some(token) => format!("{}{SEP}", decode_token::<String>(token)?),
            None => String::new(),
        };
        let txn = self.read()?;
        let owned = txn.open_table(OWNED).map_err(backend)?;
        let mut found = Vec::new();
        let mut more = false;
        for entry in owned
            .range((owner, start.as_str())..=(owner, "\u{10FFFF}"))
            .map_err(backend)?
        {
            let (k, _) = entry.map_err(backend)?;
            if found.len() == limit {
                more = true;
                break;
            }
            let (pk, sk) = k
                .value()
                .1
                .split_once(SEP)
                .ok_or_else(|| backend("bad index key"))?;
            found.push(ItemKey::new(pk, sk));
        }
        let next = match (more, found.last()) {
            (true, Some(last)) => Some(encode_token(&storage_key(last))?),
            _ => None,
        };
        Ok(Page { items: found, next })
    }

    async fn delete_partition(&self, pk: &str) -> Result<DeletionReport, StoreError> {
        let prefix = format!("{pk}{SEP}");
        self.write(move |store, tables| store.delete_partition_in(tables, &prefix))
            .await
    }

    async fn list_due(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<DueItem>, StoreError> {
        let limit = page.checked_limit()? as usize;
        let start = match &page.token {
            Some(token) => after_position(token)?,
            None => (since.timestamp(), String::new()),
        };
        let txn = self.read()?;
        let expiry = txn.open_table(EXPIRY).map_err(backend)?;
        let mut found = Vec::new();
        let mut more = false;
        let range = (start.0, start.1.as_str())..=(until.timestamp(), "\u{10FFFF}");
        for entry in expiry.range(range).map_err(backend)? {
            let (k, class) = entry.map_err(backend)?;
            if found.len() == limit {
                more = true;
                break;
            }
            let (at, key) = k.value();
            let (pk, sk) = key
                .split_once(SEP)
                .ok_or_else(|| backend("bad index key"))?;
            found.push(DueItem {
                key: ItemKey::new(pk, sk),
                retention: class
                    .value()
                    .parse::<RetentionClass>()
                    .map_err(|e| StoreError::Decode(e.to_string()))?,
                expires_at: DateTime::from_timestamp(at, 0).ok_or_else(|| backend("bad time"))?,
            });
        }
        let next = match (more, found.last()) {
            (true, Some(last)) => Some(position_token(
                last.expires_at.timestamp(),
                &storage_key(&last.key),
            )?),
            _ => None,
        };
        Ok(Page { items: found, next })
    }
}

/// A reader of the embedded store's change records.
pub struct EmbeddedChangeFeed {
    db: Arc<Database>,
    after: u64,
}

impl EmbeddedChangeFeed {
    /// The sequence number of the last record returned (0 before the first).
    pub fn position(&self) -> u64 {
        self.after
    }
}

#[async_trait]
impl ChangeFeed for EmbeddedChangeFeed {
    async fn poll(&mut self, max: usize) -> Result<Vec<EventRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let changes = txn.open_table(CHANGES).map_err(backend)?;
        let mut out = Vec::new();
        for entry in changes.range(self.after + 1..).map_err(backend)?.take(max) {
            let (seq, bytes) = entry.map_err(backend)?;
            out.push(changes::event_record(seq.value(), bytes.value())?);
            self.after = seq.value();
        }
        Ok(out)
    }
}

/// The local stack's queues keep their messages here, committed with the store's writes in
/// the same groups (no extra `fsync` per message).
#[async_trait]
impl QueueJournal for EmbeddedStore {
    async fn keep(
        &self,
        queue: &str,
        order: u64,
        entry: Vec<u8>,
        dedup: Option<(String, DateTime<Utc>)>,
    ) -> Result<(), QueueError> {
        let queue = queue.to_owned();
        self.write(move |_, tables| {
            let mut queued = tables.txn.open_table(QUEUED).map_err(backend)?;
            queued
                .insert((queue.as_str(), order), entry.as_slice())
                .map_err(backend)?;
            if let Some((id, at)) = &dedup {
                let mut seen = tables.txn.open_table(QUEUE_DEDUP).map_err(backend)?;
                seen.insert((queue.as_str(), at.timestamp_millis(), id.as_str()), ())
                    .map_err(backend)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| QueueError::Backend(e.to_string()))
    }

    async fn forget(
        &self,
        queue: &str,
        order: u64,
        dedup_before: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        let queue = queue.to_owned();
        self.write(move |_, tables| {
            let mut queued = tables.txn.open_table(QUEUED).map_err(backend)?;
            queued.remove((queue.as_str(), order)).map_err(backend)?;
            let mut dedup = tables.txn.open_table(QUEUE_DEDUP).map_err(backend)?;
            let cutoff = dedup_before.timestamp_millis();
            dedup
                .retain_in(
                    (queue.as_str(), i64::MIN, "")..(queue.as_str(), cutoff, ""),
                    |_, _| false,
                )
                .map_err(backend)?;
            Ok(())
        })
        .await
        .map_err(|e| QueueError::Backend(e.to_string()))
    }

    fn kept(&self, queue: &str) -> Result<Kept, QueueError> {
        let read = || -> Result<Kept, StoreError> {
            let txn = self.read()?;
            let mut kept = Kept::default();
            let queued = txn.open_table(QUEUED).map_err(backend)?;
            for entry in queued
                .range((queue, 0)..=(queue, u64::MAX))
                .map_err(backend)?
            {
                let (key, value) = entry.map_err(backend)?;
                kept.entries.push((key.value().1, value.value().to_vec()));
            }
            let dedup = txn.open_table(QUEUE_DEDUP).map_err(backend)?;
            for entry in dedup
                .range((queue, i64::MIN, "")..=(queue, i64::MAX, "\u{10ffff}"))
                .map_err(backend)?
            {
                let (key, _) = entry.map_err(backend)?;
                let (_, at, id) = key.value();
                if let Some(at) = DateTime::from_timestamp_millis(at) {
                    kept.dedup_ids.push((id.to_owned(), at));
                }
            }
            Ok(kept)
        };
        read().map_err(|e| QueueError::Backend(e.to_string()))
    }
}
