//! DynamoDB attributes as length-prefixed binary: how the embedded store keeps an item on
//! disk, and how a record keeps a body written from its domain type ([`super::Data`]). A body
//! goes between its domain type and this form without an attribute map ([`to_value`],
//! [`from_value`]); DynamoDB's requests take the attributes ([`decode_map`]).
//!
//! Items were kept as DynamoDB JSON before (data folders of earlier releases hold them).
//! Reading that JSON back into attribute maps was a fifth of a webhook request's work
//! (docs/performance.md#per-event-work). JSON starts with `{`, this encoding with
//! [`BINARY`], so both are read; every write stores the binary form.
//!
//! Layout: [`BINARY`], then the item as a map. A map is its entry count and, per entry, the
//! name and the value. A value is one type byte and its content: text and bytes with their
//! length first, lists and sets with their count first. Counts and lengths are `u32`, little
//! endian.

// A function's build without the embedded store uses the bodies' halves only.
#![cfg_attr(not(feature = "embedded"), allow(dead_code))]

mod de;
mod ser;
#[cfg(test)]
mod serde_tests;

use crate::domain::keys::attr;
use crate::ports::store::item::{self, Attributes, item_of};
use crate::ports::store::{Data, Record};
use serde_dynamo::{AttributeValue, Item};
use std::collections::HashMap;

pub use de::from_value;
pub use ser::to_value;

/// The first byte of a binary item. JSON's is `{`.
const BINARY: u8 = 0x01;

/// How deep maps and lists may nest: DynamoDB's own limit. Reading recurses, so a damaged
/// item claiming deeper nesting is refused before it could exhaust the stack.
const MAX_DEPTH: usize = 32;

/// The attribute types, one byte each.
mod kind {
    pub const S: u8 = 1;
    pub const N: u8 = 2;
    pub const BOOL: u8 = 3;
    pub const NULL: u8 = 4;
    pub const B: u8 = 5;
    pub const M: u8 = 6;
    pub const L: u8 = 7;
    pub const SS: u8 = 8;
    pub const NS: u8 = 9;
    pub const BS: u8 = 10;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("the item ends early")]
    Truncated,
    #[error("unknown attribute type {0}")]
    UnknownType(u8),
    #[error("an attribute's text is not UTF-8")]
    NotUtf8,
    #[error("{0} bytes after the item")]
    TrailingBytes(usize),
    #[error("a part of the item is larger than 4 GiB")]
    TooLarge,
    #[error("maps and lists nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("an item of an earlier release (DynamoDB JSON): {0}")]
    Json(String),
    #[error("the body does not fit its type: {0}")]
    Body(String),
}

/// The item in the binary form. Stores write records ([`encode_record`]); tests write items.
#[cfg(test)]
pub fn encode(item: &Item) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256);
    out.push(BINARY);
    put_map(&mut out, item)?;
    Ok(out)
}

/// A record's item in the binary form: what [`encode`] makes of `record.to_item()`, without
/// the attribute map of its body. A body kept encoded is copied as it is: the embedded store's
/// writer thread decoded it into a map and encoded that again for every write.
pub fn encode_record(record: &Record) -> Result<Vec<u8>, CodecError> {
    let body = match &record.data {
        Data::Encoded(bytes) => bytes.len(),
        Data::Attributes(_) => 0,
    };
    let mut out = Vec::with_capacity(256 + body);
    out.push(BINARY);
    // The count is known once the attributes are written: room for it first.
    let count_at = out.len();
    put_count(&mut out, 0)?;
    let mut count = 1; // `data`, written last
    item::each_own_attribute(record, |name, value| {
        let (kind, text) = match value {
            item::Own::S(text) => (kind::S, text),
            item::Own::N(number) => (kind::N, number),
        };
        count += 1;
        put_bytes(&mut out, name.as_bytes())?;
        out.push(kind);
        put_bytes(&mut out, text.as_bytes())
    })?;
    let count = u32::try_from(count).map_err(|_| CodecError::TooLarge)?;
    out[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
    put_bytes(&mut out, attr::DATA.as_bytes())?;
    match &record.data {
        Data::Encoded(bytes) => out.extend_from_slice(bytes),
        Data::Attributes(map) => {
            out.push(kind::M);
            put_map(&mut out, map)?;
        }
    }
    Ok(out)
}

/// An item in either form: binary, or DynamoDB JSON as earlier releases wrote it.
pub fn decode(bytes: &[u8]) -> Result<Item, CodecError> {
    match bytes.split_first() {
        Some((&BINARY, rest)) => {
            let mut reader = Reader(rest);
            let map = reader.map(0)?;
            if !reader.0.is_empty() {
                return Err(CodecError::TrailingBytes(reader.0.len()));
            }
            Ok(item_of(map))
        }
        _ => serde_json::from_slice(bytes).map_err(|e| CodecError::Json(e.to_string())),
    }
}

/// Whether an encoded value is a map.
pub fn is_map(value: &[u8]) -> bool {
    value.first() == Some(&kind::M)
}

/// An item's top-level attributes, read in place: what a record keeps beside its body is
/// looked up here, and the body (`data`) is kept in its bytes until decoded straight into its
/// domain type ([`from_value`]). The whole item is checked as [`decode`] would check it, so
/// each value decodes.
pub struct View<'a> {
    /// Each attribute's name and its encoded value (type byte and content).
    entries: Vec<(&'a str, &'a [u8])>,
}

/// The binary item's view; `None` for an item of an earlier release (DynamoDB JSON).
pub fn view(bytes: &[u8]) -> Result<Option<View<'_>>, CodecError> {
    let Some((&BINARY, rest)) = bytes.split_first() else {
        return Ok(None);
    };
    let mut reader = Reader(rest);
    let (count, room) = reader.count()?;
    let mut entries = Vec::with_capacity(room);
    for _ in 0..count {
        let name = std::str::from_utf8(reader.bytes()?).map_err(|_| CodecError::NotUtf8)?;
        let start = reader.0;
        reader.skip_value(0)?;
        entries.push((name, &start[..start.len() - reader.0.len()]));
    }
    if !reader.0.is_empty() {
        return Err(CodecError::TrailingBytes(reader.0.len()));
    }
    Ok(Some(View { entries }))
}

impl<'a> View<'a> {
    /// The encoded value of attribute `name`.
    pub fn value(&self, name: &str) -> Option<&'a [u8]> {
        self.entries
            .iter()
            .find(|(entry, _)| *entry == name)
            .map(|(_, value)| *value)
    }

    /// The content of attribute `name` if it is of type `expected` and is text.
    fn text_of(&self, name: &str, expected: u8) -> Option<&'a str> {
        let mut reader = Reader(self.value(name)?);
        if reader.byte().ok()? != expected {
            return None;
        }
        std::str::from_utf8(reader.bytes().ok()?).ok()
    }
}

impl Attributes for View<'_> {
    fn string(&self, name: &str) -> Option<&str> {
        self.text_of(name, kind::S)
    }

    fn number_text(&self, name: &str) -> Option<&str> {
        self.text_of(name, kind::N)
    }

    fn has(&self, name: &str) -> bool {
        self.value(name).is_some()
    }
}

/// An encoded map value (a body) as the attributes it holds.
pub fn decode_map(value: &[u8]) -> Result<Item, CodecError> {
    let mut reader = Reader(value);
    let map = match reader.value(0)? {
        AttributeValue::M(map) => map,
        _ => return Err(CodecError::Body("expected a map".into())),
    };
    match reader.0.len() {
        0 => Ok(item_of(map)),
        left => Err(CodecError::TrailingBytes(left)),
    }
}

fn put_count(out: &mut Vec<u8>, count: usize) -> Result<(), CodecError> {
    let count = u32::try_from(count).map_err(|_| CodecError::TooLarge)?;
    out.extend_from_slice(&count.to_le_bytes());
    Ok(())
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), CodecError> {
    put_count(out, bytes.len())?;
    out.extend_from_slice(bytes);
    Ok(())
}

fn put_map(out: &mut Vec<u8>, map: &HashMap<String, AttributeValue>) -> Result<(), CodecError> {
    put_count(out, map.len())?;
    for (name, value) in map {
        put_bytes(out, name.as_bytes())?;
        put_value(out, value)?;
    }
    Ok(())
}

/// A list or set: its count, then each element as `put_one` writes it.
fn put_list<T>(
    out: &mut Vec<u8>,
    elements: &[T],
    put_one: impl Fn(&mut Vec<u8>, &T) -> Result<(), CodecError>,
) -> Result<(), CodecError> {
    put_count(out, elements.len())?;
    elements
        .iter()
        .try_for_each(|element| put_one(out, element))
}

fn put_text(out: &mut Vec<u8>, text: &String) -> Result<(), CodecError> {
    put_bytes(out, text.as_bytes())
}

fn put_value(out: &mut Vec<u8>, value: &AttributeValue) -> Result<(), CodecError> {
    match value {
        AttributeValue::S(text) => {
            out.push(kind::S);
            put_bytes(out, text.as_bytes())
        }
        AttributeValue::N(number) => {
            out.push(kind::N);
            put_bytes(out, number.as_bytes())
        }
        AttributeValue::Bool(flag) => {
            out.extend_from_slice(&[kind::BOOL, u8::from(*flag)]);
            Ok(())
        }
        AttributeValue::Null(flag) => {
            out.extend_from_slice(&[kind::NULL, u8::from(*flag)]);
            Ok(())
        }
        AttributeValue::B(bytes) => {
            out.push(kind::B);
            put_bytes(out, bytes)
        }
        AttributeValue::M(map) => {
            out.push(kind::M);
            put_map(out, map)
        }
        AttributeValue::L(values) => {
            out.push(kind::L);
            put_list(out, values, put_value)
        }
        AttributeValue::Ss(texts) => {
            out.push(kind::SS);
            put_list(out, texts, put_text)
        }
        AttributeValue::Ns(numbers) => {
            out.push(kind::NS);
            put_list(out, numbers, put_text)
        }
        AttributeValue::Bs(all) => {
            out.push(kind::BS);
            put_list(out, all, |out, bytes| put_bytes(out, bytes))
        }
    }
}

/// What is left of an item being read (the embedded store's change records use the same
/// length-prefixed parts).
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.0.len() < n {
            return Err(CodecError::Truncated);
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(taken)
    }

    pub(crate) fn byte(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    /// A count, and how many elements to reserve room for: no more than bytes are left (each
    /// element takes at least one), so a corrupt count cannot ask for gigabytes.
    fn count(&mut self) -> Result<(usize, usize), CodecError> {
        let raw: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| CodecError::Truncated)?;
        let count = u32::from_le_bytes(raw) as usize;
        Ok((count, count.min(self.0.len())))
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let (length, _) = self.count()?;
        self.take(length)
    }

    pub(crate) fn text(&mut self) -> Result<String, CodecError> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| CodecError::NotUtf8)
    }

    /// A list or set: its count, then each element as `read_one` reads it.
    fn list<T>(
        &mut self,
        mut read_one: impl FnMut(&mut Self) -> Result<T, CodecError>,
    ) -> Result<Vec<T>, CodecError> {
        let (count, room) = self.count()?;
        let mut elements = Vec::with_capacity(room);
        for _ in 0..count {
            elements.push(read_one(self)?);
        }
        Ok(elements)
    }

    /// A map `depth` levels below the item's top.
    fn map(&mut self, depth: usize) -> Result<HashMap<String, AttributeValue>, CodecError> {
        let (count, room) = self.count()?;
        let mut map = HashMap::with_capacity(room);
        for _ in 0..count {
            let name = self.text()?;
            let value = self.value(depth)?;
            map.insert(name, value);
        }
        Ok(map)
    }

    /// Reads past a value of a map or list `depth` levels below the item's top, checking it
    /// as [`Reader::value`] does, without building it.
    fn skip_value(&mut self, depth: usize) -> Result<(), CodecError> {
        let inner = || match depth + 1 {
            inner if inner > MAX_DEPTH => Err(CodecError::TooDeep),
            inner => Ok(inner),
        };
        let text = |reader: &mut Self| {
            std::str::from_utf8(reader.bytes()?)
                .map(drop)
                .map_err(|_| CodecError::NotUtf8)
        };
        match self.byte()? {
            kind::S | kind::N => text(self)?,
            kind::B => {
                self.bytes()?;
            }
            kind::BOOL | kind::NULL => {
                self.byte()?;
            }
            kind::M => {
                let inner = inner()?;
                let (count, _) = self.count()?;
                for _ in 0..count {
                    text(self)?;
                    self.skip_value(inner)?;
                }
            }
            kind::L => {
                let inner = inner()?;
                let (count, _) = self.count()?;
                for _ in 0..count {
                    self.skip_value(inner)?;
                }
            }
            kind::SS | kind::NS => {
                let (count, _) = self.count()?;
                for _ in 0..count {
                    text(self)?;
                }
            }
            kind::BS => {
                let (count, _) = self.count()?;
                for _ in 0..count {
                    self.bytes()?;
                }
            }
            unknown => return Err(CodecError::UnknownType(unknown)),
        }
        Ok(())
    }

    /// A value of a map or list `depth` levels below the item's top.
    fn value(&mut self, depth: usize) -> Result<AttributeValue, CodecError> {
        // The level a map or list value opens.
        let inner = || match depth + 1 {
            inner if inner > MAX_DEPTH => Err(CodecError::TooDeep),
            inner => Ok(inner),
        };
        Ok(match self.byte()? {
            kind::S => AttributeValue::S(self.text()?),
            kind::N => AttributeValue::N(self.text()?),
            kind::BOOL => AttributeValue::Bool(self.byte()? != 0),
            kind::NULL => AttributeValue::Null(self.byte()? != 0),
            kind::B => AttributeValue::B(self.bytes()?.to_vec()),
            kind::M => AttributeValue::M(self.map(inner()?)?),
            kind::L => {
                let inner = inner()?;
                AttributeValue::L(self.list(|r| r.value(inner))?)
            }
            kind::SS => AttributeValue::Ss(self.list(Self::text)?),
            kind::NS => AttributeValue::Ns(self.list(Self::text)?),
            kind::BS => AttributeValue::Bs(self.list(|r| r.bytes().map(<[u8]>::to_vec))?),
            unknown => return Err(CodecError::UnknownType(unknown)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_owned())
    }

    /// An item with every attribute type, nested.
    fn every_type() -> Item {
        let mut nested = HashMap::new();
        nested.insert("note".to_owned(), s("Grüße, \"Lisa\"\n"));
        nested.insert(
            "list".to_owned(),
            AttributeValue::L(vec![s(""), AttributeValue::N("-1.5".into())]),
        );
        let mut item = Item::default();
        for (name, value) in [
            ("pk", s("C#01JABCDEF")),
            ("version", AttributeValue::N("3".into())),
            ("yes", AttributeValue::Bool(true)),
            ("no", AttributeValue::Bool(false)),
            ("nothing", AttributeValue::Null(true)),
            ("raw", AttributeValue::B(vec![0, 1, 0xFF])),
            ("data", AttributeValue::M(nested)),
            ("empty", AttributeValue::M(HashMap::new())),
            ("tags", AttributeValue::Ss(vec!["a".into(), "ß".into()])),
            ("numbers", AttributeValue::Ns(vec!["1".into(), "2".into()])),
            ("blobs", AttributeValue::Bs(vec![vec![], vec![7]])),
        ] {
            item.insert(name.to_owned(), value);
        }
        item
    }

    #[test]
    fn an_item_of_every_attribute_type_reads_back_as_written() {
        let item = every_type();
        let bytes = encode(&item).unwrap();
        assert_eq!(bytes[0], BINARY);
        assert_eq!(decode(&bytes).unwrap(), item);
    }

    #[test]
    fn a_record_is_stored_as_the_item_it_stands_for_whichever_way_its_body_is_kept() {
        use crate::domain::Contact;
        use crate::domain::keys::ItemKey;
        use crate::policy::retention::RetentionClass;
        use crate::ports::store::Hold;
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let contact = Contact::new("491701234567", Some("Grüße".into()), at);
        let encoded = Record::new(
            ItemKey::new("C#x", "PROFILE"),
            &contact,
            RetentionClass::Bot7d,
            at,
        )
        .unwrap();
        assert!(matches!(encoded.data, Data::Encoded(_)));
        let mut held = Record::from_item(&encoded.to_item()).unwrap();
        assert!(matches!(held.data, Data::Attributes(_)));
        held.owner = Some("abc".into());
        held.hold = Some(Hold {
            reason: "case 2026-17".into(),
            placed_at: at,
        });
        for record in [encoded, held] {
            let bytes = encode_record(&record).unwrap();
            assert_eq!(decode(&bytes).unwrap(), record.to_item());
            assert!(view(&bytes).unwrap().is_some());
        }
    }

    #[test]
    fn an_item_an_earlier_release_stored_as_dynamodb_json_is_read() {
        let item = every_type();
        let json = serde_json::to_vec(&item).unwrap();
        assert_eq!(json[0], b'{');
        assert_eq!(decode(&json).unwrap(), item);
    }

    #[test]
    fn a_damaged_item_is_an_error_not_a_panic() {
        let bytes = encode(&every_type()).unwrap();
        for cut in 1..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(CodecError::TrailingBytes(1)));
        // One entry named "a" whose type is unknown.
        let unknown = [BINARY, 1, 0, 0, 0, 1, 0, 0, 0, b'a', 99];
        assert_eq!(decode(&unknown), Err(CodecError::UnknownType(99)));
        let not_utf8 = [BINARY, 1, 0, 0, 0, 1, 0, 0, 0, 0xFF, kind::BOOL, 1];
        assert_eq!(decode(&not_utf8), Err(CodecError::NotUtf8));
        // A count of four billion entries in a few bytes: refused, not allocated.
        let huge = [BINARY, 0xFF, 0xFF, 0xFF, 0xFF, 0];
        assert_eq!(decode(&huge), Err(CodecError::Truncated));
        assert!(matches!(decode(b"not an item"), Err(CodecError::Json(_))));
    }

    #[test]
    fn a_view_checks_what_decode_checks_so_every_value_it_hands_out_decodes() {
        let bytes = encode(&every_type()).unwrap();
        let item = view(&bytes).unwrap().expect("the binary form");
        let data = item.value("data").expect("an attribute");
        assert!(is_map(data));
        assert_eq!(
            AttributeValue::M(decode_map(data).unwrap().into_inner()),
            every_type()["data"]
        );
        for cut in 1..bytes.len() {
            assert_eq!(
                view(&bytes[..cut]).is_err(),
                decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        // A text deep in a map that is not UTF-8.
        let nested = [
            BINARY,
            1,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            b'd',
            kind::M,
            1,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            b'n',
            kind::S,
            1,
            0,
            0,
            0,
            0xFF,
        ];
        assert_eq!(decode(&nested), Err(CodecError::NotUtf8));
        assert!(matches!(view(&nested), Err(CodecError::NotUtf8)));
        assert!(
            view(b"{}").unwrap().is_none(),
            "DynamoDB JSON of an earlier release"
        );
    }

    #[test]
    fn nesting_is_read_to_dynamodbs_depth_and_refused_beyond_without_exhausting_the_stack() {
        // An item whose attribute "n" nests lists `levels` deep, the innermost empty.
        let nested = |levels: usize| {
            let mut bytes = vec![BINARY, 1, 0, 0, 0, 1, 0, 0, 0, b'n'];
            for _ in 0..levels {
                bytes.extend_from_slice(&[kind::L, 1, 0, 0, 0]);
            }
            bytes.extend_from_slice(&[kind::L, 0, 0, 0, 0]);
            bytes
        };
        assert!(decode(&nested(MAX_DEPTH - 1)).is_ok());
        assert_eq!(decode(&nested(MAX_DEPTH)), Err(CodecError::TooDeep));
        // A damaged item claiming a million levels: an error, not a stack overflow.
        assert_eq!(decode(&nested(1_000_000)), Err(CodecError::TooDeep));
    }
}
