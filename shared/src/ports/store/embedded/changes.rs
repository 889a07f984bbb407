//! How the embedded store keeps its change records, the local stand-in for the table's
//! DynamoDB stream.
//!
//! They were kept as the stream's JSON (`EventRecord`). Building that record and serialising
//! its images, once per write, was the largest part of the store's writer thread after redb's
//! commit, and every write of the local stack waits for that thread. The writer now keeps
//! what a record is made of in binary, its images in the items' own encoding (the bytes it
//! has just written), and a reader of the feed builds the `EventRecord`. Records of earlier
//! releases (JSON, which starts with `{`) are read as they are.
//!
//! Layout: [`BINARY`]; the time (epoch milliseconds, `i64`); the event (a byte); whether TTL
//! removed the item (a byte); the key's `pk` and `sk`; the old and the new image, each its
//! length (0: none) and the item's encoding. Lengths are `u32`, numbers little endian.

use super::{LOCAL_REGION, LOCAL_TABLE, TTL_PRINCIPAL, decode_item};
use crate::domain::keys::ItemKey;
use crate::ports::store::StoreError;
use crate::ports::store::codec::{CodecError, Reader, put_bytes};
use aws_lambda_events::event::dynamodb::{EventRecord, StreamRecord, StreamViewType, UserIdentity};
use chrono::{DateTime, Utc};
use serde_dynamo::{AttributeValue, Item};
use std::collections::HashMap;

/// The first byte of a binary change record. JSON's is `{`.
const BINARY: u8 = 0x01;

/// What happened to the item, as the stream names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Event {
    Insert = 0,
    Modify = 1,
    Remove = 2,
}

impl Event {
    const ALL: [Event; 3] = [Event::Insert, Event::Modify, Event::Remove];

    fn name(self) -> &'static str {
        match self {
            Event::Insert => "INSERT",
            Event::Modify => "MODIFY",
            Event::Remove => "REMOVE",
        }
    }
}

/// One change as the writer keeps it. Images are items in the embedded store's encoding.
pub(super) struct Change<'a> {
    pub at: DateTime<Utc>,
    pub event: Event,
    pub by_ttl: bool,
    pub key: &'a ItemKey,
    pub old: Option<&'a [u8]>,
    pub new: Option<&'a [u8]>,
}

pub(super) fn encode(change: &Change) -> Result<Vec<u8>, StoreError> {
    let images = change.old.map_or(0, <[u8]>::len) + change.new.map_or(0, <[u8]>::len);
    let mut out = Vec::with_capacity(32 + change.key.pk.len() + change.key.sk.len() + images);
    out.push(BINARY);
    out.extend_from_slice(&change.at.timestamp_millis().to_le_bytes());
    out.push(change.event as u8);
    out.push(u8::from(change.by_ttl));
    let too_large = |_| StoreError::Encode("a change larger than 4 GiB".into());
    put_bytes(&mut out, change.key.pk.as_bytes()).map_err(too_large)?;
    put_bytes(&mut out, change.key.sk.as_bytes()).map_err(too_large)?;
    for image in [change.old, change.new] {
        put_bytes(&mut out, image.unwrap_or_default()).map_err(too_large)?;
    }
    Ok(out)
}

/// When a stored change was made, read without the rest of it: each write checks the oldest
/// change for pruning. One that cannot be read counts as old.
pub(super) fn created_at(stored: &[u8]) -> DateTime<Utc> {
    match stored {
        [BINARY, rest @ ..] => rest
            .first_chunk::<8>()
            .and_then(|millis| DateTime::from_timestamp_millis(i64::from_le_bytes(*millis))),
        json => json_created_at(json),
    }
    .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// An earlier release's JSON record's time, without decoding its images.
fn json_created_at(json: &[u8]) -> Option<DateTime<Utc>> {
    #[derive(serde::Deserialize)]
    struct Record {
        dynamodb: Created,
    }
    #[derive(serde::Deserialize)]
    struct Created {
        /// Epoch seconds with a fraction, as `StreamRecord` writes them.
        #[serde(rename = "ApproximateCreationDateTime")]
        seconds: f64,
    }
    let record = serde_json::from_slice::<Record>(json).ok()?;
    DateTime::from_timestamp_millis((record.dynamodb.seconds * 1000.0).round() as i64)
}

/// The stream's record of the change stored under `sequence`.
pub(super) fn event_record(sequence: u64, stored: &[u8]) -> Result<EventRecord, StoreError> {
    let [BINARY, rest @ ..] = stored else {
        return serde_json::from_slice(stored).map_err(|e| StoreError::Decode(e.to_string()));
    };
    let mut reader = Reader(rest);
    let millis = reader.take(8).map_err(damaged)?;
    let millis = i64::from_le_bytes(
        millis
            .try_into()
            .map_err(|_| damaged(CodecError::Truncated))?,
    );
    let at =
        DateTime::from_timestamp_millis(millis).ok_or_else(|| damaged("a time out of range"))?;
    let event = reader.byte().map_err(damaged)?;
    let event = *Event::ALL
        .get(usize::from(event))
        .ok_or_else(|| damaged("an unknown event"))?;
    let by_ttl = reader.byte().map_err(damaged)? != 0;
    let key = ItemKey {
        pk: reader.text().map_err(damaged)?,
        sk: reader.text().map_err(damaged)?,
    };
    let mut image = || match reader.bytes().map_err(damaged)? {
        [] => Ok(None),
        item => decode_item(item).map(Some),
    };
    let (old, new) = (image()?, image()?);
    if !reader.0.is_empty() {
        return Err(damaged("bytes after the change"));
    }
    Ok(build(sequence, at, event, &key, old, new, by_ttl))
}

fn damaged(what: impl std::fmt::Display) -> StoreError {
    StoreError::Decode(format!("a stored change record: {what}"))
}

fn build(
    sequence: u64,
    at: DateTime<Utc>,
    event: Event,
    key: &ItemKey,
    old: Option<Item>,
    new: Option<Item>,
    by_ttl: bool,
) -> EventRecord {
    let mut keys = Item::default();
    keys.insert("pk".into(), AttributeValue::S(key.pk.clone()));
    keys.insert("sk".into(), AttributeValue::S(key.sk.clone()));
    let size = [old.as_ref(), new.as_ref()]
        .into_iter()
        .flatten()
        .map(|item| dynamo_size(item))
        .sum::<usize>();
    let mut change = StreamRecord::default();
    // Rounded down to the second, as DynamoDB gives it (and as the JSON records of earlier
    // releases kept it).
    change.approximate_creation_date_time =
        DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at);
    change.keys = keys;
    change.new_image = new.unwrap_or_default();
    change.old_image = old.unwrap_or_default();
    change.sequence_number = Some(format!("{sequence:021}"));
    change.size_bytes = size as i64;
    change.stream_view_type = Some(StreamViewType::NewAndOldImages);
    let mut record = EventRecord::default();
    record.aws_region = LOCAL_REGION.to_owned();
    record.change = change;
    record.event_id = format!("{sequence:032x}");
    record.event_name = event.name().to_owned();
    record.event_source = Some("aws:dynamodb".to_owned());
    record.event_version = Some("1.1".to_owned());
    record.event_source_arn = Some(format!(
        "arn:aws:dynamodb:{LOCAL_REGION}:000000000000:table/{LOCAL_TABLE}/stream/local"
    ));
    if by_ttl {
        let mut identity = UserIdentity::default();
        identity.type_ = "Service".to_owned();
        identity.principal_id = TTL_PRINCIPAL.to_owned();
        record.user_identity = Some(identity);
    }
    record
}

/// An item's size as DynamoDB counts it (a stream record's `SizeBytes`): each attribute's
/// name and value in bytes; a number one byte per two significant digits and one more; a
/// list or map three bytes and one per element.
fn dynamo_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(number) => number_size(number),
        AttributeValue::B(bytes) => bytes.len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(texts) => texts.iter().map(String::len).sum(),
        AttributeValue::Ns(numbers) => numbers.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(all) => all.iter().map(Vec::len).sum(),
        AttributeValue::L(values) => 3 + values.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => 3 + map.len() + dynamo_size(map),
    }
}

fn number_size(number: &str) -> usize {
    let mantissa = number.split(['e', 'E']).next().unwrap_or_default();
    let significant = mantissa
        .trim_start_matches(['-', '+', '0', '.'])
        .trim_end_matches(['0', '.'])
        .bytes()
        .filter(u8::is_ascii_digit)
        .count();
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::store::codec;

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_owned())
    }

    fn n(number: &str) -> AttributeValue {
        AttributeValue::N(number.to_owned())
    }

    #[test]
    fn a_change_reports_the_size_dynamodb_counts() {
        let sizes = [
            ("pk", s("C#1"), 2 + 3),
            ("count", n("1500"), 5 + 2),
            ("share", n("-0.05"), 5 + 2),
            ("price", n("123.45"), 5 + 4),
            ("zero", n("0"), 4 + 1),
            ("flag", AttributeValue::Bool(true), 4 + 1),
            ("gone", AttributeValue::Null(true), 4 + 1),
            (
                "tags",
                AttributeValue::Ss(vec!["ab".into(), "c".into()]),
                4 + 3,
            ),
            ("blob", AttributeValue::B(vec![0; 10]), 4 + 10),
            (
                "list",
                AttributeValue::L(vec![s("a"), n("7")]),
                4 + 3 + 2 + 3,
            ),
            (
                "map",
                AttributeValue::M(HashMap::from([("x".to_owned(), s("ab"))])),
                3 + 3 + 1 + 3,
            ),
        ];
        for (name, value, size) in &sizes {
            let item = HashMap::from([(name.to_string(), value.clone())]);
            assert_eq!(dynamo_size(&item), *size, "{name}");
        }
        let whole: HashMap<String, AttributeValue> = sizes
            .iter()
            .map(|(name, value, _)| (name.to_string(), value.clone()))
            .collect();
        assert_eq!(
            dynamo_size(&whole),
            sizes.iter().map(|(_, _, size)| size).sum::<usize>()
        );
    }

    fn item(pk: &str, note: &str) -> Item {
        let mut item = Item::default();
        item.insert("pk".into(), s(pk));
        item.insert("note".into(), s(note));
        item
    }

    #[test]
    fn a_change_is_read_back_as_the_stream_event_it_stands_for() {
        let key = ItemKey {
            pk: "C#01".into(),
            sk: "PROFILE".into(),
        };
        let at = DateTime::from_timestamp_millis(1_795_255_201_250).unwrap();
        let second = DateTime::from_timestamp(1_795_255_201, 0).unwrap();
        let (old, new) = (item("C#01", "vorher"), item("C#01", "nachher"));
        let (old_bytes, new_bytes) = (codec::encode(&old).unwrap(), codec::encode(&new).unwrap());
        for (event, old, new, by_ttl) in [
            (Event::Insert, None, Some(&new_bytes), false),
            (Event::Modify, Some(&old_bytes), Some(&new_bytes), false),
            (Event::Remove, Some(&old_bytes), None, true),
        ] {
            let stored = encode(&Change {
                at,
                event,
                by_ttl,
                key: &key,
                old: old.map(Vec::as_slice),
                new: new.map(Vec::as_slice),
            })
            .unwrap();
            assert_eq!(created_at(&stored), at);
            let record = event_record(7, &stored).unwrap();
            let expected = build(
                7,
                at,
                event,
                &key,
                old.map(|_| item("C#01", "vorher")),
                new.map(|_| item("C#01", "nachher")),
                by_ttl,
            );
            assert_eq!(record, expected, "{event:?}");
            assert_eq!(record.event_name, event.name());
            assert_eq!(record.change.approximate_creation_date_time, second);
            assert_eq!(record.user_identity.is_some(), by_ttl);
            // An earlier release kept the same record as JSON.
            let json = serde_json::to_vec(&expected).unwrap();
            assert_eq!(event_record(7, &json).unwrap(), expected);
            assert_eq!(created_at(&json), second);
            // Damaged: cut short anywhere, or with bytes after it.
            for cut in 1..stored.len() {
                assert!(event_record(7, &stored[..cut]).is_err(), "cut at {cut}");
            }
            let mut longer = stored.clone();
            longer.push(0);
            assert!(event_record(7, &longer).is_err());
        }
    }

    #[test]
    fn a_change_that_cannot_be_read_counts_as_old() {
        for stored in [&b"not json"[..], &[BINARY, 1, 2][..], &[][..]] {
            assert_eq!(created_at(stored), DateTime::<Utc>::MIN_UTC);
        }
    }
}
