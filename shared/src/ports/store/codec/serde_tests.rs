//! The serde halves of the codec ([`from_value`], [`to_value`]) against serde_dynamo: what
//! one reads from and the other writes as attributes, on one value of every shape the bodies
//! use, and their refusals.

use super::{CodecError, decode_map, from_value, put_value, to_value};
use chrono::{DateTime, Utc};
use serde::de;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Plain {
    First,
    SecondOne,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum External {
    Unit,
    Newtype(String),
    Tuple(u8, String),
    Struct { at: i64, note: Option<String> },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Internal {
    Text { body: String },
    Choice { id: u32, title: String },
    Nothing,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", content = "id", rename_all = "kebab-case")]
enum Adjacent {
    Phone(String),
    Count(u64),
    Gone,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Flattened {
    channel: String,
    attempts: u8,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Newtype(String);

/// Text a serializer collects from `Display`, char by char (as chrono writes a timestamp).
#[derive(Clone, Debug, PartialEq, Deserialize)]
struct Shown(String);

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        self.0.chars().try_for_each(|c| f.write_char(c))
    }
}

impl Serialize for Shown {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Every shape of the serde data model the bodies use, and a few more.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Everything {
    small: u8,
    negative: i32,
    large: u64,
    signed: i64,
    ratio: f64,
    flag: bool,
    letter: char,
    text: String,
    empty: String,
    absent: Option<String>,
    present: Option<u32>,
    #[serde(default)]
    defaulted: Vec<String>,
    list: Vec<Option<i64>>,
    tuple: (u8, String),
    plain: Plain,
    externals: Vec<External>,
    internals: Vec<Internal>,
    adjacents: Vec<Adjacent>,
    by_name: BTreeMap<String, u32>,
    by_number: BTreeMap<u32, String>,
    at: DateTime<Utc>,
    shown: Shown,
    newtype: Newtype,
    nested: Option<Box<Everything>>,
    #[serde(flatten)]
    flattened: Flattened,
}

fn everything() -> Everything {
    let inner = Everything {
        nested: None,
        text: "inner".into(),
        ..outer()
    };
    Everything {
        nested: Some(Box::new(inner)),
        ..outer()
    }
}

fn outer() -> Everything {
    Everything {
        small: 7,
        negative: -40_000,
        large: u64::MAX,
        signed: i64::MIN,
        ratio: -0.125,
        flag: true,
        letter: 'ß',
        text: "Grüße, \"Lisa\"\n🙂".into(),
        empty: String::new(),
        absent: None,
        present: Some(3),
        defaulted: vec!["a".into()],
        list: vec![Some(1), None, Some(-1)],
        tuple: (2, "zwei".into()),
        plain: Plain::SecondOne,
        externals: vec![
            External::Unit,
            External::Newtype("n".into()),
            External::Tuple(1, "t".into()),
            External::Struct {
                at: 1_795_255_201,
                note: None,
            },
        ],
        internals: vec![
            Internal::Text {
                body: "Hallo".into(),
            },
            Internal::Choice {
                id: 4,
                title: "Tarif".into(),
            },
            Internal::Nothing,
        ],
        adjacents: vec![
            Adjacent::Phone("491701234567".into()),
            Adjacent::Count(9),
            Adjacent::Gone,
        ],
        by_name: BTreeMap::from([("eins".into(), 1), ("zwei".into(), 2)]),
        by_number: BTreeMap::from([(1, "eins".into()), (20, "zwanzig".into())]),
        at: DateTime::from_timestamp(1_795_255_201, 123_000_000).unwrap(),
        shown: Shown("Grüße 🙂 aus Köln".into()),
        newtype: Newtype("inside".into()),
        nested: None,
        flattened: Flattened {
            channel: "whatsapp".into(),
            attempts: 2,
        },
    }
}

/// `value` as the embedded store encodes it, and as serde_dynamo's attribute value.
fn encoded<T: Serialize>(value: &T) -> (Vec<u8>, serde_dynamo::AttributeValue) {
    let attribute = serde_dynamo::to_attribute_value(value).unwrap();
    let mut bytes = Vec::new();
    put_value(&mut bytes, &attribute).unwrap();
    (bytes, attribute)
}

/// What serde_dynamo reads from the attribute value, and what `from_value` reads from its
/// encoding: the same, or both an error.
fn both<T: de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    bytes: &[u8],
    attribute: serde_dynamo::AttributeValue,
) -> Option<T> {
    let direct = from_value::<T>(bytes);
    let through_map = serde_dynamo::from_attribute_value::<_, T>(attribute);
    match (direct, through_map) {
        (Ok(direct), Ok(through_map)) => {
            assert_eq!(direct, through_map);
            Some(direct)
        }
        (Err(_), Err(_)) => None,
        (direct, through_map) => {
            panic!("read directly: {direct:?}, through the map: {through_map:?}")
        }
    }
}

#[test]
fn a_body_reads_as_serde_dynamo_reads_its_attribute_map() {
    let value = everything();
    let (bytes, attribute) = encoded(&value);
    assert_eq!(both::<Everything>(&bytes, attribute), Some(value));
}

#[test]
fn fields_a_type_does_not_know_are_read_past() {
    #[derive(Debug, PartialEq, Deserialize)]
    struct Few {
        text: String,
        at: DateTime<Utc>,
        flattened_not: Option<String>,
    }
    let (bytes, attribute) = encoded(&everything());
    let few = both::<Few>(&bytes, attribute).expect("read");
    assert_eq!(few.text, everything().text);
    assert_eq!(few.at, everything().at);
}

#[test]
fn a_value_of_another_type_is_an_error_as_with_serde_dynamo() {
    #[derive(Debug, PartialEq, Deserialize)]
    struct Wrong {
        text: u32,
    }
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        small: u8,
    }
    let (bytes, attribute) = encoded(&everything());
    assert_eq!(both::<Wrong>(&bytes, attribute.clone()), None);
    assert_eq!(both::<Strict>(&bytes, attribute), None);
    let (bytes, attribute) = encoded(&300u32);
    assert_eq!(both::<u8>(&bytes, attribute), None);
    let (bytes, attribute) = encoded(&"zwei");
    assert_eq!(both::<Plain>(&bytes, attribute), None);
}

#[test]
fn sets_read_as_lists_of_their_elements() {
    use serde_dynamo::AttributeValue;
    for attribute in [
        AttributeValue::Ss(vec!["a".into(), "ß".into()]),
        AttributeValue::Ns(vec!["1".into(), "-2".into()]),
    ] {
        let mut bytes = Vec::new();
        put_value(&mut bytes, &attribute).unwrap();
        let strings = both::<Vec<String>>(&bytes, attribute.clone());
        let numbers = both::<Vec<i64>>(&bytes, attribute);
        assert!(strings.is_some() != numbers.is_some());
    }
}

#[test]
fn a_damaged_body_is_an_error_not_a_panic() {
    let (bytes, _) = encoded(&everything());
    for cut in 0..bytes.len() {
        assert!(
            from_value::<Everything>(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        from_value::<Everything>(&longer),
        Err(CodecError::TrailingBytes(1))
    );
}

#[test]
fn a_body_is_written_as_serde_dynamo_writes_its_attribute_map() {
    let value = everything();
    let (_, attribute) = encoded(&value);
    let written = to_value(&value).unwrap();
    let serde_dynamo::AttributeValue::M(map) = attribute else {
        panic!("a struct is a map")
    };
    assert_eq!(*decode_map(&written).unwrap(), map);
    assert_eq!(from_value::<Everything>(&written).unwrap(), value);
}

#[test]
fn map_keys_are_text_integers_or_booleans_and_anything_else_is_a_typed_error() {
    let keys = BTreeMap::from([(1u8, BTreeMap::from([(true, 1.5f64)]))]);
    let (_, attribute) = encoded(&keys);
    let serde_dynamo::AttributeValue::M(map) = attribute else {
        panic!("a map")
    };
    assert_eq!(*decode_map(&to_value(&keys).unwrap()).unwrap(), map);
    // A list as a key: serde_dynamo panics on it (unreachable!), the codec refuses it.
    #[derive(Serialize, PartialEq, PartialOrd, Eq, Ord)]
    struct Key(Vec<u8>);
    let bad = BTreeMap::from([(Key(vec![1]), 1)]);
    assert!(matches!(to_value(&bad), Err(CodecError::Body(_))));
}
