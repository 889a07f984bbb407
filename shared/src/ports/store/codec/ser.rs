//! A body written from its domain type straight into the binary encoding, as serde_dynamo
//! would write its attribute map (same attribute types, numbers as text, `None` and `()` as
//! NULL, enums as text or single-entry maps), without building that map: on a write the map's
//! strings, hashes and allocations, and freeing them after the commit, were most of a
//! record's encoding work (docs/performance.md#per-event-work).

use super::{CodecError, kind, put_bytes};
use serde::ser::{self, Serialize};

impl ser::Error for CodecError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        CodecError::Body(message.to_string())
    }
}

/// `value` as one encoded value (a type byte and its content).
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256);
    value.serialize(Value { out: &mut out })?;
    Ok(out)
}

/// Text formatted straight into the encoding.
struct InPlace<'o>(&'o mut Vec<u8>);

impl std::fmt::Write for InPlace<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
    fn write_char(&mut self, c: char) -> std::fmt::Result {
        match u8::try_from(c) {
            Ok(ascii) if ascii.is_ascii() => self.0.push(ascii),
            _ => self
                .0
                .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
        Ok(())
    }
}

/// Writes one value to `out`.
struct Value<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> Value<'o> {
    fn text(self, tag: u8, text: &str) -> Result<(), CodecError> {
        self.out.push(tag);
        put_bytes(self.out, text.as_bytes())
    }

    fn number(self, number: impl ToString) -> Result<(), CodecError> {
        self.text(kind::N, &number.to_string())
    }

    fn null(self) -> Result<(), CodecError> {
        self.out.extend_from_slice(&[kind::NULL, 1]);
        Ok(())
    }

    /// A map or list of elements yet to come: its count is filled in at the end.
    fn open(self, tag: u8) -> Compound<'o> {
        self.out.push(tag);
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        Compound {
            out: self.out,
            count_at: at,
            count: 0,
        }
    }

    /// An enum variant with content: a map of one entry, the variant's name, then (written
    /// next to the returned buffer) its content.
    fn variant(self, variant: &str) -> Result<&'o mut Vec<u8>, CodecError> {
        self.out.push(kind::M);
        self.out.extend_from_slice(&1u32.to_le_bytes());
        put_bytes(self.out, variant.as_bytes())?;
        Ok(self.out)
    }
}

/// A map, list or struct being written.
struct Compound<'o> {
    out: &'o mut Vec<u8>,
    count_at: usize,
    count: u32,
}

impl Compound<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        self.count = self.count.checked_add(1).ok_or(CodecError::TooLarge)?;
        value.serialize(Value { out: self.out })
    }

    fn entry<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), CodecError> {
        put_bytes(self.out, name.as_bytes())?;
        self.element(value)
    }

    fn close(self) -> Result<(), CodecError> {
        self.out[self.count_at..self.count_at + 4].copy_from_slice(&self.count.to_le_bytes());
        Ok(())
    }
}

/// Numbers as serde_dynamo writes them: their text.
macro_rules! numbers {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Result<(), CodecError> {
            self.number(v)
        })*
    };
}

impl<'o> ser::Serializer for Value<'o> {
    type Ok = ();
    type Error = CodecError;
    type SerializeSeq = Compound<'o>;
    type SerializeTuple = Compound<'o>;
    type SerializeTupleStruct = Compound<'o>;
    type SerializeTupleVariant = Compound<'o>;
    type SerializeMap = Compound<'o>;
    type SerializeStruct = Compound<'o>;
    type SerializeStructVariant = Compound<'o>;

    fn serialize_bool(self, v: bool) -> Result<(), CodecError> {
        self.out.extend_from_slice(&[kind::BOOL, u8::from(v)]);
        Ok(())
    }
    numbers! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_f32: f32, serialize_f64: f64,
    }
    fn serialize_char(self, v: char) -> Result<(), CodecError> {
        self.text(kind::S, v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), CodecError> {
        self.text(kind::S, v)
    }
    /// Written in place, its length filled in after: a timestamp (chrono writes it digit by
    /// digit) would otherwise be formatted into a `String` of its own, grown on the way.
    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<(), CodecError> {
        self.out.push(kind::S);
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        std::fmt::write(&mut InPlace(self.out), format_args!("{value}"))
            .map_err(|_| CodecError::Body("a value's text could not be written".into()))?;
        let length = u32::try_from(self.out.len() - at - 4).map_err(|_| CodecError::TooLarge)?;
        self.out[at..at + 4].copy_from_slice(&length.to_le_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), CodecError> {
        self.out.push(kind::B);
        put_bytes(self.out, v)
    }
    fn serialize_none(self) -> Result<(), CodecError> {
        self.null()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CodecError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), CodecError> {
        self.null()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), CodecError> {
        self.null()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), CodecError> {
        self.text(kind::S, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        let out = self.variant(variant)?;
        value.serialize(Value { out })
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'o>, CodecError> {
        Ok(self.open(kind::L))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'o>, CodecError> {
        Ok(self.open(kind::L))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'o>, CodecError> {
        Ok(self.open(kind::L))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'o>, CodecError> {
        let out = self.variant(variant)?;
        Ok(Value { out }.open(kind::L))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'o>, CodecError> {
        Ok(self.open(kind::M))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'o>, CodecError> {
        Ok(self.open(kind::M))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'o>, CodecError> {
        let out = self.variant(variant)?;
        Ok(Value { out }.open(kind::M))
    }
}

/// The compounds whose parts are values (lists) or named values (maps), each in order.
macro_rules! parts {
    ($($compound:ident::$method:ident($($name:ident: $ty:ty)?) => $part:ident),* $(,)?) => {
        $(impl ser::$compound for Compound<'_> {
            type Ok = ();
            type Error = CodecError;
            fn $method<T: Serialize + ?Sized>(
                &mut self,
                $($name: $ty,)?
                value: &T,
            ) -> Result<(), CodecError> {
                self.$part($($name,)? value)
            }
            fn end(self) -> Result<(), CodecError> {
                self.close()
            }
        })*
    };
}

parts! {
    SerializeSeq::serialize_element() => element,
    SerializeTuple::serialize_element() => element,
    SerializeTupleStruct::serialize_field() => element,
    SerializeTupleVariant::serialize_field() => element,
    SerializeStruct::serialize_field(name: &'static str) => entry,
    SerializeStructVariant::serialize_field(name: &'static str) => entry,
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = CodecError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CodecError> {
        let name = key.serialize(Name)?;
        put_bytes(self.out, name.as_bytes())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        self.element(value)
    }
    fn end(self) -> Result<(), CodecError> {
        self.close()
    }
}

/// A map key as serde_dynamo writes one: text, an integer or a boolean spelt as text.
struct Name;

fn not_a_name() -> CodecError {
    CodecError::Body("a map key must be a string, an integer or a boolean".into())
}

macro_rules! integer_names {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Result<String, CodecError> {
            Ok(v.to_string())
        })*
    };
}

impl ser::Serializer for Name {
    type Ok = String;
    type Error = CodecError;
    type SerializeSeq = ser::Impossible<String, CodecError>;
    type SerializeTuple = ser::Impossible<String, CodecError>;
    type SerializeTupleStruct = ser::Impossible<String, CodecError>;
    type SerializeTupleVariant = ser::Impossible<String, CodecError>;
    type SerializeMap = ser::Impossible<String, CodecError>;
    type SerializeStruct = ser::Impossible<String, CodecError>;
    type SerializeStructVariant = ser::Impossible<String, CodecError>;

    integer_names! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128,
    }

    fn serialize_bool(self, v: bool) -> Result<String, CodecError> {
        Ok(v.to_string())
    }
    fn serialize_char(self, v: char) -> Result<String, CodecError> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, CodecError> {
        Ok(v.to_owned())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, CodecError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, CodecError> {
        value.serialize(self)
    }
    fn serialize_f32(self, _v: f32) -> Result<String, CodecError> {
        Err(not_a_name())
    }
    fn serialize_f64(self, _v: f64) -> Result<String, CodecError> {
        Err(not_a_name())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, CodecError> {
        Err(not_a_name())
    }
    fn serialize_none(self) -> Result<String, CodecError> {
        Err(not_a_name())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, CodecError> {
        Err(not_a_name())
    }
    fn serialize_unit(self) -> Result<String, CodecError> {
        Err(not_a_name())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, CodecError> {
        Err(not_a_name())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, CodecError> {
        Err(not_a_name())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, CodecError> {
        Err(not_a_name())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, CodecError> {
        Err(not_a_name())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, CodecError> {
        Err(not_a_name())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, CodecError> {
        Err(not_a_name())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, CodecError> {
        Err(not_a_name())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, CodecError> {
        Err(not_a_name())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, CodecError> {
        Err(not_a_name())
    }
}
