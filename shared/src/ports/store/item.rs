//! Record <-> DynamoDB attributes. Both adapters store exactly this shape, so the embedded
//! change feed's images equal DynamoDB's.

use super::{Data, Hold, Record, RecordKind};
use crate::domain::keys::{HELD, ItemKey, attr};
use crate::policy::retention::RetentionClass;
use chrono::DateTime;
use serde::de::DeserializeOwned;
use serde_dynamo::{AttributeValue, Item};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ItemError {
    #[error("attribute {0} is missing or has the wrong type")]
    Attribute(&'static str),
    #[error("unknown kind {0:?}")]
    Kind(String),
    #[error("unknown retention class {0:?}")]
    Class(String),
}

pub(super) fn to_item(record: &Record) -> Item {
    let mut item = own_attributes(record);
    item.insert(
        attr::DATA.into(),
        AttributeValue::M(record.data.to_item().into_inner()),
    );
    item
}

/// The attributes a record keeps beside its body: [`to_item`] without `data`.
pub(super) fn own_attributes(record: &Record) -> Item {
    let mut item = Item::default();
    let taken: Result<(), std::convert::Infallible> = each_own_attribute(record, |name, value| {
        let value = match value {
            Own::S(text) => AttributeValue::S(text.to_owned()),
            Own::N(number) => AttributeValue::N(number.to_owned()),
        };
        item.insert(name.into(), value);
        Ok(())
    });
    let Ok(()) = taken;
    item
}

/// The value of one of a record's own attributes.
pub(super) enum Own<'a> {
    S(&'a str),
    N(&'a str),
}

/// Gives each attribute a record keeps beside its body to `attribute`, in a fixed order, as
/// borrowed text, until `attribute` fails: the embedded store encodes them straight from here
/// (its writer built a map of them for every write).
pub(super) fn each_own_attribute<E>(
    record: &Record,
    mut attribute: impl FnMut(&'static str, Own<'_>) -> Result<(), E>,
) -> Result<(), E> {
    attribute(attr::PK, Own::S(&record.key.pk))?;
    attribute(attr::SK, Own::S(&record.key.sk))?;
    attribute(attr::KIND, Own::S(record.kind.as_str()))?;
    attribute(attr::RETENTION_CLASS, Own::S(record.retention.id()))?;
    let mut number = itoa::Buffer::new();
    let deadline = number.format(record.expires_at.timestamp());
    match &record.hold {
        None => {
            attribute(attr::EXPIRES_AT, Own::N(deadline))?;
            let bucket = record.key.expiry_bucket(record.expires_at);
            attribute(attr::EXPIRY_BUCKET, Own::S(&bucket))?;
        }
        // No `expires_at` and no bucket: TTL and the expiry index pass a held item by.
        Some(hold) => {
            attribute(attr::HELD_EXPIRES_AT, Own::N(deadline))?;
            attribute(attr::HELD, Own::S(HELD))?;
            attribute(attr::HELD_AT, Own::S(&hold.placed_at.to_rfc3339()))?;
            attribute(attr::HOLD_REASON, Own::S(&hold.reason))?;
        }
    }
    if let Some(owner) = &record.owner {
        attribute(attr::OWNER, Own::S(owner))?;
    }
    attribute(attr::VERSION, Own::N(number.format(record.version)))
}

/// Where a record's own attributes are read from: an attribute map, or (the embedded store)
/// the encoded item read in place.
pub(crate) trait Attributes {
    /// The text of a string attribute.
    fn string(&self, name: &str) -> Option<&str>;
    /// The text of a number attribute.
    fn number_text(&self, name: &str) -> Option<&str>;
    fn has(&self, name: &str) -> bool;
}

impl Attributes for Item {
    fn string(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(AttributeValue::S(s)) => Some(s),
            _ => None,
        }
    }

    fn number_text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(AttributeValue::N(n)) => Some(n),
            _ => None,
        }
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// An item's retention class.
pub(super) fn retention(item: &impl Attributes) -> Result<RetentionClass, ItemError> {
    let class = string(item, attr::RETENTION_CLASS)?;
    class
        .parse::<RetentionClass>()
        .map_err(|_| ItemError::Class(class.to_owned()))
}

/// Whether an item is under legal hold.
pub(super) fn is_held(item: &impl Attributes) -> bool {
    item.has(attr::HELD)
}

/// The record of an item as read (its body copied; see [`from_owned_item`]).
pub(super) fn from_item(item: &Item) -> Result<Record, ItemError> {
    let data = match item.get(attr::DATA) {
        Some(AttributeValue::M(map)) => Some(attributes(map.clone())),
        _ => None,
    };
    with_data(item, data)
}

/// The record of an item the caller no longer needs: its body moved, not copied (a read's
/// decoded item, the largest part of a read's work).
pub(super) fn from_owned_item(mut item: Item) -> Result<Record, ItemError> {
    let data = match item.remove(attr::DATA) {
        Some(AttributeValue::M(map)) => Some(attributes(map)),
        _ => None,
    };
    with_data(&item, data)
}

/// A map of attributes as an `Item`, as it is: serde_dynamo's `From` conversions between the
/// two build a new map entry by entry.
pub(super) fn item_of(map: HashMap<String, AttributeValue>) -> Item {
    let mut item = Item::default();
    *item = map;
    item
}

/// A body from its attributes.
pub(super) fn from_body_item<B: DeserializeOwned>(data: Item) -> Result<B, serde_dynamo::Error> {
    serde_dynamo::from_attribute_value(AttributeValue::M(data.into_inner()))
}

/// A body as the attributes of its map.
fn attributes(map: HashMap<String, AttributeValue>) -> Data {
    Data::Attributes(Arc::new(item_of(map)))
}

/// The record of `item`'s attributes with `data` (its `data` map) as the body; `data` is
/// `None` if the item has none.
pub(crate) fn with_data(item: &impl Attributes, data: Option<Data>) -> Result<Record, ItemError> {
    let kind = string(item, attr::KIND)?;
    let hold = if is_held(item) {
        let placed_at = string(item, attr::HELD_AT)?;
        Some(Hold {
            reason: string(item, attr::HOLD_REASON)?.to_owned(),
            placed_at: DateTime::parse_from_rfc3339(placed_at)
                .map_err(|_| ItemError::Attribute(attr::HELD_AT))?
                .to_utc(),
        })
    } else {
        None
    };
    let expires_at = match hold {
        Some(_) => number(item, attr::HELD_EXPIRES_AT)?,
        None => number(item, attr::EXPIRES_AT)?,
    };
    Ok(Record {
        key: key_of(item)?,
        kind: RecordKind::parse(kind).ok_or_else(|| ItemError::Kind(kind.to_owned()))?,
        retention: retention(item)?,
        expires_at: DateTime::from_timestamp(expires_at, 0)
            .ok_or(ItemError::Attribute(attr::EXPIRES_AT))?,
        version: u64::try_from(number(item, attr::VERSION)?)
            .map_err(|_| ItemError::Attribute(attr::VERSION))?,
        data: data.ok_or(ItemError::Attribute(attr::DATA))?,
        owner: string(item, attr::OWNER).ok().map(str::to_owned),
        hold,
    })
}

pub(crate) fn key_of(item: &impl Attributes) -> Result<ItemKey, ItemError> {
    Ok(ItemKey::new(
        string(item, attr::PK)?,
        string(item, attr::SK)?,
    ))
}

pub(crate) fn string<'a>(
    item: &'a impl Attributes,
    name: &'static str,
) -> Result<&'a str, ItemError> {
    item.string(name).ok_or(ItemError::Attribute(name))
}

pub(crate) fn number(item: &impl Attributes, name: &'static str) -> Result<i64, ItemError> {
    item.number_text(name)
        .and_then(|n| n.parse().ok())
        .ok_or(ItemError::Attribute(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Contact;
    use chrono::Utc;

    /// A contact's profile of `bot-7d`, and its record.
    fn anna() -> (Contact, Record) {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let contact = Contact::new("491701234567", Some("Anna".into()), at);
        let key = ItemKey::new("C#x", "PROFILE");
        let record = Record::new(key, &contact, RetentionClass::Bot7d, at).unwrap();
        (contact, record)
    }

    #[test]
    fn record_round_trips_through_dynamodb_attributes() {
        let (contact, record) = anna();
        let item = record.to_item();
        assert_eq!(
            item.get(attr::EXPIRES_AT),
            Some(&AttributeValue::N((1_800_000_000 + 7 * 86_400).to_string()))
        );
        assert_eq!(
            item.get(attr::RETENTION_CLASS),
            Some(&AttributeValue::S("bot-7d".into()))
        );
        let back = Record::from_item(&item).unwrap();
        assert_eq!(back, record);
        assert_eq!(Record::from_owned_item(item.clone()).unwrap(), record);
        assert_eq!(back.body::<Contact>().unwrap(), contact);
        assert!(back.body::<crate::domain::Message>().is_err());
        assert!(
            !back.is_expired_at(Utc::now().min(back.expires_at - chrono::Duration::seconds(1)))
        );
        assert!(back.is_expired_at(back.expires_at));
    }

    #[test]
    fn a_held_item_has_no_ttl_attribute_and_no_expiry_bucket() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut record = Record::new(
            ItemKey::new("CB#c-1", "REQUEST"),
            &Contact::new("491701234567", None, at),
            RetentionClass::Callback3m,
            at,
        )
        .unwrap();
        record.owner = Some("abc".into());
        record.hold = Some(Hold {
            reason: "case 2026-17".into(),
            placed_at: at,
        });
        let item = record.to_item();
        assert!(item.get(attr::EXPIRES_AT).is_none());
        assert!(item.get(attr::EXPIRY_BUCKET).is_none());
        assert_eq!(item.get(attr::HELD), Some(&AttributeValue::S(HELD.into())));
        assert_eq!(Record::from_item(&item).unwrap(), record);
        assert!(!record.is_readable_at(at));
    }

    #[test]
    fn a_body_is_written_encoded_as_the_attributes_serde_dynamo_writes() {
        let (contact, record) = anna();
        assert!(matches!(record.data, Data::Encoded(_)));
        let data = record.data.to_item();
        assert_eq!(data, serde_dynamo::to_item::<_, Item>(&contact).unwrap());
        assert_eq!(from_body_item::<Contact>(data.clone()).unwrap(), contact);
        assert_eq!(record.data, Data::Attributes(Arc::new(data)));
        // Only a map is a body.
        assert!(!super::super::codec::is_map(
            &super::super::codec::to_value(&42).unwrap()
        ));
    }

    #[test]
    fn malformed_items_are_typed_errors() {
        let mut item = Item::default();
        item.insert(attr::PK.into(), AttributeValue::S("p".into()));
        assert_eq!(
            Record::from_item(&item).unwrap_err().to_string(),
            "stored item is malformed: attribute kind is missing or has the wrong type"
        );
    }
}
