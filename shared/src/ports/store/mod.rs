//! The `Store` port: the single table, seen by the domain. Two adapters implement it, DynamoDB
//! and an embedded file store; one contract suite (`shared/tests/store_contract.rs`) holds
//! them to the same behaviour.

mod codec;
#[cfg(feature = "streams")]
pub mod dynamo_streams;
pub mod dynamodb;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod faulty;
mod item;

use crate::domain::keys::{ItemKey, Pseudonym};
use crate::domain::{
    AuthAttempts, CallbackRequest, Contact, Conversation, DeliveryMarker, IdentityLink, Message,
    OpenCallback, ReviewItem, SurveyAnswer, SurveySession,
};
use crate::policy::retention::{Anchor, RetentionClass};
use crate::ports::desk::DeskChat;
use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_dynamo::Item;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub use item::ItemError;

/// A domain type that can be stored as the body of a record.
pub trait Body: Serialize + DeserializeOwned {
    const KIND: RecordKind;
}

/// The kinds of stored items, each named once: its domain type (the body) and the `kind`
/// attribute's value.
macro_rules! record_kinds {
    ($($ty:ident => $name:literal),* $(,)?) => {
        /// What a stored item is; written as the `kind` attribute.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum RecordKind {
            $($ty),*
        }

        impl RecordKind {
            pub const ALL: &[RecordKind] = &[$(RecordKind::$ty),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(RecordKind::$ty => $name),*
                }
            }
        }

        $(impl Body for $ty {
            const KIND: RecordKind = RecordKind::$ty;
        })*
    };
}

record_kinds! {
    Contact => "contact",
    Conversation => "conversation",
    Message => "message",
    AuthAttempts => "auth-attempts",
    DeliveryMarker => "delivery-marker",
    SurveyAnswer => "survey-answer",
    CallbackRequest => "callback-request",
    OpenCallback => "open-callback",
    SurveySession => "survey-session",
    IdentityLink => "identity-link",
    ReviewItem => "review-item",
    DeskChat => "desk-chat",
}

impl RecordKind {
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One item of the table: key, retention, optimistic-locking version, and the body.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub key: ItemKey,
    pub kind: RecordKind,
    pub retention: RetentionClass,
    /// The hard deadline; the item is unreadable from this second on.
    pub expires_at: DateTime<Utc>,
    /// 1 when created; every update adds one.
    pub version: u64,
    /// The body (see [`Record::body`]).
    pub data: Data,
    /// The person an item outside their contact partition belongs to (see [`Record::owned_by`]).
    pub owner: Option<String>,
    /// Set while the item is under legal hold.
    pub hold: Option<Hold>,
}

/// A record's body: its attributes (as DynamoDB or a change record gives them), or the same
/// attributes in the embedded store's binary encoding: a body written from its domain type
/// ([`Record::set_body`]) or read from the embedded store, going between that form and its
/// domain type without an attribute map. Each adapter takes what it needs: the embedded store
/// the encoding, DynamoDB the attributes. Shared between copies: a record is copied on its way
/// into a store, its body need not be.
#[derive(Clone)]
pub enum Data {
    Attributes(Arc<Item>),
    Encoded(Arc<[u8]>),
}

impl Data {
    /// The body's attributes.
    pub fn to_item(&self) -> Item {
        match self {
            Data::Attributes(item) => Item::clone(item),
            // Checked when made: `set_body` serialised it as a map, the embedded store checked
            // what it read (`codec::view`).
            Data::Encoded(bytes) => codec::decode_map(bytes).expect("an encoded body decodes"),
        }
    }

    /// The body of a record of `kind` as its domain type.
    fn decode<B: Body>(self, kind: RecordKind) -> Result<B, StoreError> {
        Record::check_kind::<B>(kind)?;
        let decoded = match self {
            Data::Attributes(item) => {
                item::from_body_item(Arc::unwrap_or_clone(item)).map_err(|e| e.to_string())
            }
            Data::Encoded(bytes) => codec::from_value(&bytes).map_err(|e| e.to_string()),
        };
        decoded.map_err(StoreError::Decode)
    }
}

impl Default for Data {
    fn default() -> Self {
        Data::Attributes(Arc::default())
    }
}

/// Equal bodies: the same attributes, however each is kept.
impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Data::Attributes(a), Data::Attributes(b)) => a == b,
            (Data::Encoded(a), Data::Encoded(b)) if a == b => true,
            _ => self.to_item() == other.to_item(),
        }
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.to_item(), f)
    }
}

/// A legal hold: the item may not be deleted, so it is blocked from any use instead. Reads do
/// not see it, no deadline applies (neither TTL nor the sweeper reach it), and deletions skip
/// it, until it is released; then its deadline applies again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Why (a case or ticket reference); shown by `servicekanal holds`. No personal data.
    pub reason: String,
    pub placed_at: DateTime<Utc>,
}

/// What releasing a hold did.
#[derive(Clone, Debug, PartialEq)]
pub enum Released {
    /// The deadline lies ahead: the item is readable again until then.
    Restored(Record),
    /// The deadline passed while it was held: it is deleted now.
    Deleted(Record),
}

impl Record {
    /// A new record of `retention`, its deadline counted from `anchor` by the retention
    /// rule ([`RetentionClass::deadline_of`]); a bare time is the moment the data arose.
    pub fn new<B: Body>(
        key: ItemKey,
        body: &B,
        retention: RetentionClass,
        anchor: impl Into<Anchor>,
    ) -> Result<Self, StoreError> {
        let mut record = Self::without_body::<B>(key, retention, anchor);
        record.set_body(body)?;
        Ok(record)
    }

    /// [`Record::new`] without attributes yet (set by [`Record::set_body`]).
    fn without_body<B: Body>(
        key: ItemKey,
        retention: RetentionClass,
        anchor: impl Into<Anchor>,
    ) -> Self {
        Self {
            key,
            kind: B::KIND,
            retention,
            expires_at: retention.deadline_of(anchor.into()),
            version: 1,
            data: Data::default(),
            owner: None,
            hold: None,
        }
    }

    /// Gives the record a class and the deadline the retention rule counts from `anchor`:
    /// the one way a stored item's class or deadline changes in the handlers.
    pub fn retain(&mut self, retention: RetentionClass, anchor: impl Into<Anchor>) {
        self.retention = retention;
        self.expires_at = retention.deadline_of(anchor.into());
    }

    /// Marks the record as the person's, so erasure and access requests find it through the
    /// owner index although it lives outside their partition.
    pub fn owned_by(mut self, owner: &Pseudonym) -> Self {
        self.owner = Some(owner.as_str().to_owned());
        self
    }

    /// Whether reads may return the item at `now`: not held, deadline ahead.
    pub fn is_readable_at(&self, now: DateTime<Utc>) -> bool {
        self.hold.is_none() && !self.is_expired_at(now)
    }

    /// The body as its domain type.
    pub fn body<B: Body>(&self) -> Result<B, StoreError> {
        self.data.clone().decode(self.kind)
    }

    /// `WrongKind` unless a record of `kind` has a body of type `B`.
    fn check_kind<B: Body>(kind: RecordKind) -> Result<(), StoreError> {
        match kind == B::KIND {
            true => Ok(()),
            false => Err(StoreError::WrongKind {
                expected: B::KIND,
                found: kind,
            }),
        }
    }

    /// Replaces the body, keeping key, class, deadline and version.
    pub fn set_body<B: Body>(&mut self, body: &B) -> Result<(), StoreError> {
        if self.kind != B::KIND {
            return Err(StoreError::WrongKind {
                expected: self.kind,
                found: B::KIND,
            });
        }
        let encoded = codec::to_value(body).map_err(|e| StoreError::Encode(e.to_string()))?;
        if !codec::is_map(&encoded) {
            return Err(StoreError::Encode("a body must serialize to a map".into()));
        }
        self.data = Data::Encoded(encoded.into());
        Ok(())
    }

    /// Whether the deadline has passed at `now` (the deadline second itself counts as passed).
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }

    /// The item as DynamoDB attributes (what both adapters store and the stream shows).
    pub fn to_item(&self) -> Item {
        item::to_item(self)
    }

    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        item::from_item(item).map_err(StoreError::from)
    }

    /// [`Record::from_item`] of an item not needed afterwards: the body is moved, not copied.
    pub fn from_owned_item(item: Item) -> Result<Self, StoreError> {
        item::from_owned_item(item).map_err(StoreError::from)
    }
}

/// A stored item read as its domain type (or a new one not written yet): change `body`, set
/// the retention with [`Stored::retain`], then write it with [`Stored::into_write`] (inside a
/// transaction) or [`Stored::save`]. The record's key, version and hold travel along; its
/// attributes live only in `body` (decoded once when read, encoded once when written).
#[derive(Clone, Debug, PartialEq)]
pub struct Stored<B> {
    pub body: B,
    record: Record,
    exists: bool,
}

impl<B: Body> Stored<B> {
    /// A record as read.
    pub fn read(mut record: Record) -> Result<Self, StoreError> {
        let data = std::mem::take(&mut record.data);
        Ok(Self {
            body: data.decode(record.kind)?,
            record,
            exists: true,
        })
    }

    /// `record` as kept beside the body: without its attributes.
    fn bodiless(mut record: Record) -> Record {
        record.data = Data::default();
        record
    }

    /// A new item, created when written.
    pub fn new(
        key: ItemKey,
        body: B,
        retention: RetentionClass,
        anchor: impl Into<Anchor>,
    ) -> Self {
        Self {
            record: Record::without_body::<B>(key, retention, anchor),
            body,
            exists: false,
        }
    }

    pub fn key(&self) -> &ItemKey {
        &self.record.key
    }

    pub fn retention(&self) -> RetentionClass {
        self.record.retention
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        self.record.expires_at
    }

    /// Whether the item is in the store (read), rather than new.
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// See [`Record::owned_by`].
    pub fn owned_by(mut self, owner: &Pseudonym) -> Self {
        self.record = self.record.owned_by(owner);
        self
    }

    /// See [`Record::retain`].
    pub fn retain(&mut self, retention: RetentionClass, anchor: impl Into<Anchor>) {
        self.record.retain(retention, anchor);
    }

    /// The write that stores the item as it is now: a create for a new one, else an update
    /// conditional on the version read.
    pub fn into_write(self) -> Result<Write, StoreError> {
        let mut record = self.record;
        record.set_body(&self.body)?;
        Ok(if self.exists {
            Write::Update(record)
        } else {
            Write::Create(record)
        })
    }

    /// The item as stored once [`Stored::into_write`] of it committed.
    pub fn committed(self) -> Result<Self, StoreError>
    where
        B: Clone,
    {
        let body = self.body.clone();
        let record = Self::bodiless(self.into_write()?.committed());
        Ok(Self {
            body,
            record,
            exists: true,
        })
    }

    /// Writes the item on its own; returns it as stored.
    pub async fn save(self, store: &dyn Store) -> Result<Self, StoreError>
    where
        B: Clone,
    {
        let body = self.body.clone();
        let record = self.into_write()?.commit(store).await?;
        Ok(Self {
            body,
            record: Self::bodiless(record),
            exists: true,
        })
    }
}

/// Typed reads.
impl<'s> dyn Store + 's {
    /// The readable item at `key` as its domain type; `WrongKind` if it is another kind.
    pub async fn load<B: Body>(&self, key: &ItemKey) -> Result<Option<Stored<B>>, StoreError> {
        match self.get(key).await? {
            Some(record) => Stored::read(record).map(Some),
            None => Ok(None),
        }
    }
}

/// An item whose deadline has come, as listed by [`Store::list_due`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DueItem {
    pub key: ItemKey,
    pub retention: RetentionClass,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    /// The `next` of the previous page.
    pub token: Option<String>,
}

impl PageRequest {
    pub fn first(limit: u32) -> Self {
        Self { limit, token: None }
    }

    /// The limit, refused when zero (both adapters need at least one item per page).
    pub fn checked_limit(&self) -> Result<u32, StoreError> {
        match self.limit {
            0 => Err(StoreError::InvalidLimit),
            n => Ok(n),
        }
    }

    pub fn after(limit: u32, token: String) -> Self {
        Self {
            limit,
            token: Some(token),
        }
    }
}

/// A page of results: at most `limit` items (maybe fewer, even none, when expired items were
/// filtered out), and a token while more may follow.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A page token: the position to go on from, as opaque URL-safe text (both adapters).
pub(crate) fn encode_token<T: Serialize>(position: &T) -> Result<String, StoreError> {
    use base64::Engine;
    let json = serde_json::to_vec(position).map_err(|e| StoreError::Encode(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

/// The position a page token holds; `InvalidPageToken` for anything else.
pub(crate) fn decode_token<T: DeserializeOwned>(token: &str) -> Result<T, StoreError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| StoreError::InvalidPageToken)?;
    serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidPageToken)
}

/// Every item of a paged listing, fetching `size` at a time until no token is left.
pub async fn all_pages<T, F, Fut>(size: u32, mut fetch: F) -> Result<Vec<T>, StoreError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, StoreError>>,
{
    let mut all = Vec::new();
    let mut page = PageRequest::first(size);
    loop {
        let result = fetch(page).await?;
        all.extend(result.items);
        match result.next {
            Some(token) => page = PageRequest::after(size, token),
            None => return Ok(all),
        }
    }
}

/// What a deletion removed, counted per retention class (no content), and how many items it
/// had to keep because they are under legal hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionReport {
    pub per_class: BTreeMap<RetentionClass, u64>,
    pub held: u64,
}

impl DeletionReport {
    pub fn add(&mut self, class: RetentionClass) {
        *self.per_class.entry(class).or_default() += 1;
    }

    pub fn total(&self) -> u64 {
        self.per_class.values().sum()
    }

    pub fn merge(&mut self, other: &DeletionReport) {
        for (class, n) in &other.per_class {
            *self.per_class.entry(*class).or_default() += n;
        }
        self.held += other.held;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("an item with key {0} already exists")]
    AlreadyExists(ItemKey),
    #[error("no readable item with key {0}")]
    NotFound(ItemKey),
    #[error("item {0} is under legal hold: blocked from use and deletion")]
    Held(ItemKey),
    #[error("item {0} is not under legal hold")]
    NotHeld(ItemKey),
    #[error("item {key} changed meanwhile (expected version {expected})")]
    VersionConflict { key: ItemKey, expected: u64 },
    #[error("expected a {expected} record, found a {found}")]
    WrongKind {
        expected: RecordKind,
        found: RecordKind,
    },
    #[error("invalid page token")]
    InvalidPageToken,
    #[error("page limit must be at least 1")]
    InvalidLimit,
    #[error("stored item is malformed: {0}")]
    Malformed(#[from] ItemError),
    #[error("cannot encode record body: {0}")]
    Encode(String),
    #[error("cannot decode record body: {0}")]
    Decode(String),
    #[error("a transaction holds at most {max} writes, got {got}")]
    TransactionTooLarge { got: usize, max: usize },
    #[error("a transaction writes key {0} twice")]
    TransactionRepeatsKey(ItemKey),
    #[error("storage backend failed: {0}")]
    Backend(String),
}

/// One write of a transaction (see [`Store::write_all`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// As [`Store::create`]: only if no readable item has the key.
    Create(Record),
    /// As [`Store::update`]: only if the readable item is still at `record.version`.
    Update(Record),
}

impl Write {
    pub fn key(&self) -> &ItemKey {
        match self {
            Write::Create(r) | Write::Update(r) => &r.key,
        }
    }

    /// Commits the write on its own (as `create` or `update`, not in a transaction); returns
    /// the record as stored.
    pub async fn commit(&self, store: &dyn Store) -> Result<Record, StoreError> {
        match self {
            Write::Update(r) => store.update(r).await,
            Write::Create(r) => {
                store.create(r).await?;
                Ok(self.committed())
            }
        }
    }

    /// The record as it is stored once the write commits: created at version 1, updated at
    /// the next version.
    pub fn committed(&self) -> Record {
        match self {
            Write::Create(r) => Record {
                version: 1,
                ..r.clone()
            },
            Write::Update(r) => Record {
                version: r.version + 1,
                ..r.clone()
            },
        }
    }
}

/// DynamoDB's limit for one `TransactWriteItems` call.
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// Refuses what no adapter can commit: too many writes, or one key twice.
pub fn check_transaction(writes: &[Write]) -> Result<(), StoreError> {
    if writes.len() > MAX_TRANSACTION_WRITES {
        return Err(StoreError::TransactionTooLarge {
            got: writes.len(),
            max: MAX_TRANSACTION_WRITES,
        });
    }
    let mut seen = std::collections::HashSet::new();
    for write in writes {
        if !seen.insert(write.key()) {
            return Err(StoreError::TransactionRepeatsKey(write.key().clone()));
        }
    }
    Ok(())
}

/// The single table. Reads never return an item whose deadline has passed, even while it
/// still exists physically; [`Store::list_due`] and the deletions are what reach those.
#[async_trait]
pub trait Store: Send + Sync {
    /// Stores a new item; fails with `AlreadyExists` if a readable item has the key. An item
    /// past its deadline counts as absent and is replaced.
    async fn create(&self, record: &Record) -> Result<(), StoreError>;

    async fn get(&self, key: &ItemKey) -> Result<Option<Record>, StoreError>;

    /// Readable items of a partition whose sort key starts with `sk_prefix`, in sort-key order.
    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        page: PageRequest,
    ) -> Result<Page<Record>, StoreError>;

    /// Replaces a readable item if it is still at `record.version`; returns it at the next
    /// version. `NotFound` if it is gone or expired, `VersionConflict` if someone was faster.
    async fn update(&self, record: &Record) -> Result<Record, StoreError>;

    /// Commits all writes or none. The first write whose condition fails is reported as
    /// `create`/`update` would report it alone.
    async fn write_all(&self, writes: &[Write]) -> Result<(), StoreError>;

    /// Deletes an item, expired or not; returns what was there. `Held` (and nothing deleted)
    /// if it is under legal hold.
    async fn delete(&self, key: &ItemKey) -> Result<Option<Record>, StoreError>;

    /// Deletes an item only if its deadline has passed by the store's clock and it is not
    /// held: the sweeper's delete, which cannot take an item a contact renewed meanwhile.
    /// `None` if it is gone, not due (any more) or held.
    async fn delete_due(&self, key: &ItemKey) -> Result<Option<Record>, StoreError>;

    /// Moves an item's deadline from `from` to `to`, readable or not: the sliding 13 months
    /// (renewal) and the contact's cascade. False if the item is gone, held, or its deadline is
    /// no longer `from` (someone moved it meanwhile).
    async fn set_deadline(
        &self,
        key: &ItemKey,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Deletes every item of a partition (a contact's profile, conversations, messages, ...)
    /// except those under legal hold, which the report counts as kept.
    async fn delete_partition(&self, pk: &str) -> Result<DeletionReport, StoreError>;

    /// Puts a readable item under legal hold (a second hold keeps the first). `NotFound` if
    /// there is no readable item.
    async fn place_hold(&self, key: &ItemKey, hold: Hold) -> Result<Record, StoreError>;

    /// Releases a hold: the item's deadline applies again (passed: deleted now).
    async fn release_hold(&self, key: &ItemKey) -> Result<Released, StoreError>;

    /// Every item under legal hold, oldest hold first.
    async fn list_holds(&self, page: PageRequest) -> Result<Page<Record>, StoreError>;

    /// The keys of every item whose owner is `owner` (held or not), through the owner index.
    async fn list_owned(&self, owner: &str, page: PageRequest)
    -> Result<Page<ItemKey>, StoreError>;

    /// Items whose deadline lies in `[since, until]`, found through the expiry index.
    async fn list_due(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<DueItem>, StoreError>;
}

/// Reads the table's change stream in the shape of a DynamoDB stream event.
#[async_trait]
pub trait ChangeFeed: Send {
    /// The changes since the previous call, oldest first, at most `max`.
    async fn poll(&mut self, max: usize) -> Result<Vec<EventRecord>, StoreError>;
}

/// The user identity DynamoDB puts on the stream records of TTL deletions.
pub const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";

/// Whether a stream record is a deletion by DynamoDB's TTL (and not by our code).
pub fn is_ttl_removal(record: &EventRecord) -> bool {
    record.event_name == "REMOVE"
        && record
            .user_identity
            .as_ref()
            .is_some_and(|u| u.type_ == "Service" && u.principal_id == TTL_PRINCIPAL)
}

/// The kind a stored item says it is, without reading the rest of it (`None` if it says none
/// of ours).
pub fn kind_of_item(item: &Item) -> Option<RecordKind> {
    item::string(item, crate::domain::keys::attr::KIND)
        .ok()
        .and_then(RecordKind::parse)
}

/// The key of the item a stream record is about.
pub fn key_of_change(record: &EventRecord) -> Result<ItemKey, StoreError> {
    item::key_of(&record.change.keys).map_err(StoreError::from)
}
