//! The DynamoDB adapter of the `Store` port (the single table of DESIGN.md), and a reader of
//! the table's stream through the DynamoDB Streams API.

use super::{
    DeletionReport, DueItem, Hold, Page, PageRequest, Record, Released, Store, StoreError, Write,
    check_transaction, decode_token, encode_token, item,
};
use crate::domain::keys::{
    EXPIRY_INDEX, EXPIRY_SHARDS, HELD, HOLD_INDEX, ItemKey, OWNER_INDEX, attr, expiry_bucket,
};
use crate::ports::clock::SharedClock;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use chrono::{DateTime, Duration, DurationRound, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_dynamo::Item;
use std::collections::HashMap;

type Attributes = HashMap<String, AttributeValue>;

/// Conditional deletions in flight when a partition is erased.
const PARTITION_DELETES_IN_FLIGHT: usize = 16;
/// `list_due` stops after this many index queries and hands back a token, so one call stays
/// bounded however wide the window.
const MAX_QUERIES_PER_PAGE: usize = 96;
/// Expiry-index buckets read at once: a sweep's 48 hours of lookback are 192 small queries,
/// which in a row cost 192 round trips.
const DUE_QUERY_CONCURRENCY: usize = 16;

/// The bucket after `(hour, shard)` in the order pages walk them.
fn following_bucket((hour, shard): (i64, u8)) -> (i64, u8) {
    if shard + 1 < EXPIRY_SHARDS {
        (hour, shard + 1)
    } else {
        (hour + 3600, 0)
    }
}

/// The expiry index's key of an item found in it: where a query goes on after it.
fn index_key(found: &Item) -> Item {
    let mut key = HashMap::new();
    for name in [attr::PK, attr::SK, attr::EXPIRY_BUCKET, attr::EXPIRES_AT] {
        if let Some(value) = found.get(name) {
            key.insert(name.to_owned(), value.clone());
        }
    }
    Item::from(key)
}

fn due_item(found: Item) -> Result<DueItem, StoreError> {
    Ok(DueItem {
        key: item::key_of(&found)?,
        retention: item::retention(&found)?,
        expires_at: DateTime::from_timestamp(item::number(&found, attr::EXPIRES_AT)?, 0)
            .ok_or(StoreError::Decode("bad deadline".into()))?,
    })
}

pub(crate) fn backend<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> StoreError {
    let detail = e
        .as_service_error()
        .map(|s| {
            format!(
                "{}: {}",
                s.code().unwrap_or("error"),
                s.message().unwrap_or("")
            )
        })
        .unwrap_or_else(|| format!("{e:?}"));
    StoreError::Backend(detail)
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key_attributes(key: &ItemKey) -> Attributes {
    HashMap::from([
        (attr::PK.to_owned(), s(&key.pk)),
        (attr::SK.to_owned(), s(&key.sk)),
    ])
}

fn record_of(attributes: Attributes) -> Result<Record, StoreError> {
    Record::from_owned_item(Item::from(attributes))
}

/// A query's items, each read by `read`, and the token of the next page.
fn page_of<T>(
    out: aws_sdk_dynamodb::operation::query::QueryOutput,
    read: impl Fn(Attributes) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    let next = out
        .last_evaluated_key
        .map(|k| encode_token(&Item::from(k)))
        .transpose()?;
    let items = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(read)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, next })
}

/// Where `list_due` continues: an hour bucket, a shard, and DynamoDB's key within it.
#[derive(Serialize, Deserialize)]
struct DueCursor {
    hour: i64,
    shard: u8,
    last: Option<Item>,
}

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    clock: SharedClock,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, clock: SharedClock) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
        }
    }

    fn now_value(&self) -> AttributeValue {
        n(self.clock.now().timestamp())
    }
}

/// A write as DynamoDB takes it: the item at its committed version and the condition that
/// makes it a create or an optimistic update (shared by PutItem and TransactWriteItems).
struct ConditionalPut {
    item: Attributes,
    condition: &'static str,
    names: HashMap<String, String>,
    values: Attributes,
}

impl ConditionalPut {
    fn of(write: &Write, now: &AttributeValue) -> Self {
        let mut names = HashMap::from([("#exp".to_owned(), attr::EXPIRES_AT.to_owned())]);
        let mut values = HashMap::from([(":now".to_owned(), now.clone())]);
        let condition = match write {
            // An item past its deadline counts as absent and is replaced.
            Write::Create(_) => {
                names.insert("#pk".into(), attr::PK.into());
                "attribute_not_exists(#pk) OR #exp <= :now"
            }
            Write::Update(r) => {
                names.insert("#ver".into(), attr::VERSION.into());
                values.insert(":ver".into(), n(r.version as i64));
                "#ver = :ver AND #exp > :now"
            }
        };
        Self {
            item: write.committed().to_item().into(),
            condition,
            names,
            values,
        }
    }
}

impl DynamoStore {
    /// One expiry-index bucket's due items in `[since, until]`, at most `limit`, after
    /// `start`; and the key to go on from when the bucket holds more.
    async fn due_in_bucket(
        &self,
        hour: i64,
        shard: u8,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let hour = DateTime::from_timestamp(hour, 0).ok_or(StoreError::InvalidPageToken)?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(EXPIRY_INDEX)
            .key_condition_expression("#b = :b AND #exp BETWEEN :since AND :until")
            .expression_attribute_names("#b", attr::EXPIRY_BUCKET)
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .expression_attribute_values(":b", s(&expiry_bucket(hour, shard)))
            .expression_attribute_values(":since", n(since.timestamp()))
            .expression_attribute_values(":until", n(until.timestamp()))
            .limit(limit as i32)
            .set_exclusive_start_key(start.map(Into::into))
            .send()
            .await
            .map_err(backend)?;
        let found = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(Item::from)
            .collect();
        Ok((found, out.last_evaluated_key.map(Item::from)))
    }

    /// One conditional write, as `create` and `update` do it; returns the stored record.
    async fn put(&self, write: Write) -> Result<Record, StoreError> {
        let conditional = ConditionalPut::of(&write, &self.now_value());
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(conditional.item))
            .condition_expression(conditional.condition)
            .set_expression_attribute_names(Some(conditional.names))
            .set_expression_attribute_values(Some(conditional.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(write.committed()),
            Err(e) if is_condition_failure(&e) => {
                let found = match e.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(failed)) => failed.item(),
                    _ => None,
                };
                Err(self.condition_failed(&write, found)?)
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// The error of a write whose condition failed, as the port names it, from the item
    /// DynamoDB returned with the failure (none: there is no item).
    fn condition_failed(
        &self,
        write: &Write,
        found: Option<&Attributes>,
    ) -> Result<StoreError, StoreError> {
        let key = write.key().clone();
        let found = found.cloned().map(record_of).transpose()?;
        Ok(match (write, found) {
            (_, Some(r)) if r.hold.is_some() => StoreError::Held(key),
            (Write::Create(_), _) => StoreError::AlreadyExists(key),
            (Write::Update(r), Some(found)) if found.is_readable_at(self.clock.now()) => {
                StoreError::VersionConflict {
                    key,
                    expected: r.version,
                }
            }
            (Write::Update(_), _) => StoreError::NotFound(key),
        })
    }

    /// The item as stored, held or expired alike.
    async fn stored(&self, key: &ItemKey) -> Result<Option<Record>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.item.map(record_of).transpose()
    }

    /// Writes `record` (hold placed or released) if the stored item is still at its version.
    async fn replace_version(&self, record: &Record) -> Result<Record, StoreError> {
        let committed = Write::Update(record.clone()).committed();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(committed.to_item().into()))
            .condition_expression("#ver = :ver")
            .expression_attribute_names("#ver", attr::VERSION)
            .expression_attribute_values(":ver", n(record.version as i64))
            .send()
            .await;
        match result {
            Ok(_) => Ok(committed),
            Err(e) if is_condition_failure(&e) => Err(StoreError::VersionConflict {
                key: record.key.clone(),
                expected: record.version,
            }),
            Err(e) => Err(backend(e)),
        }
    }

    /// One page of a sparse index's partition `name = value`, each item read by `read`.
    async fn query_index<T>(
        &self,
        index: &str,
        name: &str,
        value: &str,
        page: PageRequest,
        read: impl Fn(Attributes) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let limit = i32::try_from(page.checked_limit()?).unwrap_or(i32::MAX);
        let start: Option<Item> = page.token.as_deref().map(decode_token).transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#key = :key")
            .expression_attribute_names("#key", name)
            .expression_attribute_values(":key", s(value))
            .limit(limit)
            .set_exclusive_start_key(start.map(Into::into))
            .send()
            .await
            .map_err(backend)?;
        page_of(out, read)
    }

    /// One conditional delete: what was there, or `None` if the condition failed.
    async fn delete_if(
        &self,
        key: &ItemKey,
        condition: &str,
        names: &[(&str, &str)],
        values: Attributes,
    ) -> Result<Option<Option<Record>>, StoreError> {
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .return_values(ReturnValue::AllOld)
            .condition_expression(condition)
            .set_expression_attribute_values((!values.is_empty()).then_some(values));
        for (name, value) in names {
            request = request.expression_attribute_names(*name, *value);
        }
        match request.send().await {
            Ok(out) => Ok(Some(out.attributes.map(record_of).transpose()?)),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.put(Write::Create(record.clone())).await.map(|_| ())
    }

    async fn write_all(&self, writes: &[Write]) -> Result<(), StoreError> {
        check_transaction(writes)?;
        if writes.is_empty() {
            return Ok(());
        }
        let now = self.now_value();
        let mut items = Vec::with_capacity(writes.len());
        for write in writes {
            let conditional = ConditionalPut::of(write, &now);
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(conditional.item))
                .condition_expression(conditional.condition)
                .set_expression_attribute_names(Some(conditional.names))
                .set_expression_attribute_values(Some(conditional.values))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(|e| StoreError::Encode(e.to_string()))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let failed = match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
                .cancellation_reasons()
                .iter()
                .enumerate()
                .find(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                .map(|(index, r)| (index, r.item())),
            _ => None,
        };
        match failed {
            Some((index, found)) => Err(self.condition_failed(&writes[index], found)?),
            None => Err(backend(error)),
        }
    }

    async fn get(&self, key: &ItemKey) -> Result<Option<Record>, StoreError> {
        // TTL deletes only within days: an item past its deadline is treated as gone. A held
        // item is blocked from use.
        let now = self.clock.now();
        Ok(self.stored(key).await?.filter(|r| r.is_readable_at(now)))
    }

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        page: PageRequest,
    ) -> Result<Page<Record>, StoreError> {
        let limit = i32::try_from(page.checked_limit()?).unwrap_or(i32::MAX);
        let start: Option<Item> = page.token.as_deref().map(decode_token).transpose()?;
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .limit(limit)
            .filter_expression("#exp > :now")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":now", self.now_value())
            .set_exclusive_start_key(start.map(Into::into));
        request = if sk_prefix.is_empty() {
            request.key_condition_expression("#pk = :pk")
        } else {
            request
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#sk", attr::SK)
                .expression_attribute_values(":prefix", s(sk_prefix))
        };
        page_of(request.send().await.map_err(backend)?, record_of)
    }

    async fn update(&self, record: &Record) -> Result<Record, StoreError> {
        self.put(Write::Update(record.clone())).await
    }

    async fn delete(&self, key: &ItemKey) -> Result<Option<Record>, StoreError> {
        self.delete_if(
            key,
            "attribute_not_exists(#held)",
            &[("#held", attr::HELD)],
            Attributes::new(),
        )
        .await?
        .ok_or_else(|| StoreError::Held(key.clone()))
    }

    async fn delete_due(&self, key: &ItemKey) -> Result<Option<Record>, StoreError> {
        // A held item has no `expires_at`, so the condition keeps it too.
        let deleted = self
            .delete_if(
                key,
                "#exp <= :now",
                &[("#exp", attr::EXPIRES_AT)],
                HashMap::from([(":now".to_owned(), self.now_value())]),
            )
            .await?;
        Ok(deleted.flatten())
    }

    async fn delete_partition(&self, pk: &str) -> Result<DeletionReport, StoreError> {
        let mut report = DeletionReport::default();
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk")
                .projection_expression("#pk, #sk, #held")
                .expression_attribute_names("#pk", attr::PK)
                .expression_attribute_names("#sk", attr::SK)
                .expression_attribute_names("#held", attr::HELD)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            for found in out.items.unwrap_or_default() {
                let found = Item::from(found);
                if item::is_held(&found) {
                    report.held += 1;
                } else {
                    keys.push(item::key_of(&found)?);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        // Each deletion is conditional, so a hold placed since the query still keeps its item.
        // Owned keys: the futures then borrow nothing but the store (Send for async_trait).
        let outcomes: Vec<_> = futures::stream::iter(keys)
            .map(|key| async move {
                self.delete_if(
                    &key,
                    "attribute_not_exists(#held)",
                    &[("#held", attr::HELD)],
                    Attributes::new(),
                )
                .await
            })
            .buffer_unordered(PARTITION_DELETES_IN_FLIGHT)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome? {
                Some(Some(deleted)) => report.add(deleted.retention),
                Some(None) => {} // gone meanwhile
                None => report.held += 1,
            }
        }
        Ok(report)
    }

    async fn set_deadline(
        &self,
        key: &ItemKey,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .update_expression("SET #exp = :to, #b = :bucket ADD #ver :one")
            .condition_expression("#exp = :from")
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .expression_attribute_names("#b", attr::EXPIRY_BUCKET)
            .expression_attribute_names("#ver", attr::VERSION)
            .expression_attribute_values(":from", n(from.timestamp()))
            .expression_attribute_values(":to", n(to.timestamp()))
            .expression_attribute_values(":bucket", s(&key.expiry_bucket(to)))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    async fn place_hold(&self, key: &ItemKey, hold: Hold) -> Result<Record, StoreError> {
        let Some(mut record) = self.stored(key).await? else {
            return Err(StoreError::NotFound(key.clone()));
        };
        if record.hold.is_some() {
            return Ok(record);
        }
        if record.is_expired_at(self.clock.now()) {
            return Err(StoreError::NotFound(key.clone()));
        }
        record.hold = Some(hold);
        self.replace_version(&record).await
    }

    async fn release_hold(&self, key: &ItemKey) -> Result<Released, StoreError> {
        let Some(mut record) = self.stored(key).await? else {
            return Err(StoreError::NotFound(key.clone()));
        };
        if record.hold.is_none() {
            return Err(StoreError::NotHeld(key.clone()));
        }
        record.hold = None;
        if record.is_expired_at(self.clock.now()) {
            let deleted = self
                .delete_if(
                    key,
                    "#ver = :ver",
                    &[("#ver", attr::VERSION)],
                    HashMap::from([(":ver".to_owned(), n(record.version as i64))]),
                )
                .await?;
            return match deleted.flatten() {
                Some(_) => Ok(Released::Deleted(record)),
                None => Err(StoreError::VersionConflict {
                    key: key.clone(),
                    expected: record.version,
                }),
            };
        }
        self.replace_version(&record).await.map(Released::Restored)
    }

    async fn list_holds(&self, page: PageRequest) -> Result<Page<Record>, StoreError> {
        self.query_index(HOLD_INDEX, attr::HELD, HELD, page, record_of)
            .await
    }

    async fn list_owned(
        &self,
        owner: &str,
        page: PageRequest,
    ) -> Result<Page<ItemKey>, StoreError> {
        self.query_index(OWNER_INDEX, attr::OWNER, owner, page, |found| {
            item::key_of(&Item::from(found)).map_err(StoreError::from)
        })
        .await
    }

    async fn list_due(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<DueItem>, StoreError> {
        let limit = page.checked_limit()? as usize;
        let first_hour = since
            .duration_trunc(Duration::hours(1))
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut cursor = match &page.token {
            Some(token) => decode_token(token)?,
            None => DueCursor {
                hour: first_hour.timestamp(),
                shard: 0,
                last: None,
            },
        };
        let mut items = Vec::new();
        let mut queries = 0;
        // The hour buckets are independent: up to DUE_QUERY_CONCURRENCY are read at once, and
        // their answers taken in bucket order (a bucket with more than a page left is
        // continued on its own, and the buckets read after it are read again then).
        while cursor.hour <= until.timestamp() {
            if items.len() == limit || queries >= MAX_QUERIES_PER_PAGE {
                return Ok(Page {
                    items,
                    next: Some(encode_token(&cursor)?),
                });
            }
            let width = if cursor.last.is_some() {
                1
            } else {
                DUE_QUERY_CONCURRENCY.min(MAX_QUERIES_PER_PAGE - queries)
            };
            let mut buckets = Vec::with_capacity(width);
            let mut next = (cursor.hour, cursor.shard);
            while buckets.len() < width && next.0 <= until.timestamp() {
                buckets.push(next);
                next = following_bucket(next);
            }
            let room = limit - items.len();
            let mut start = cursor.last.take();
            let requests: Vec<(i64, u8, Option<Item>)> = buckets
                .iter()
                .map(|&(hour, shard)| (hour, shard, start.take()))
                .collect();
            let answers: Vec<_> = futures::stream::iter(requests)
                .map(|(hour, shard, start)| {
                    self.due_in_bucket(hour, shard, since, until, room, start)
                })
                .buffered(width)
                .collect()
                .await;
            // Every query sent counts against the page's budget, used or not.
            queries += answers.len();
            for (&(hour, shard), answer) in buckets.iter().zip(answers) {
                let (found, more) = answer?;
                let room = limit - items.len();
                if found.len() > room {
                    // The page fills inside this bucket: go on after its last item taken.
                    let resume = index_key(&found[room - 1]);
                    items.extend(
                        found
                            .into_iter()
                            .take(room)
                            .map(due_item)
                            .collect::<Result<Vec<_>, _>>()?,
                    );
                    cursor = DueCursor {
                        hour,
                        shard,
                        last: Some(resume),
                    };
                    break;
                }
                items.extend(
                    found
                        .into_iter()
                        .map(due_item)
                        .collect::<Result<Vec<_>, _>>()?,
                );
                match more {
                    Some(last) => {
                        cursor = DueCursor {
                            hour,
                            shard,
                            last: Some(last),
                        };
                        break;
                    }
                    None => {
                        let (hour, shard) = following_bucket((hour, shard));
                        cursor = DueCursor {
                            hour,
                            shard,
                            last: None,
                        };
                    }
                }
                if items.len() == limit {
                    break;
                }
            }
        }
        Ok(Page { items, next: None })
    }
}
