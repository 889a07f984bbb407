//! A body read straight from the binary encoding into its domain type, as serde_dynamo would
//! read it from the attribute map the encoding holds (same types accepted, same numbers,
//! options, enums and sets), without building that map: on a read the map's strings, hashes
//! and allocations were most of the embedded store's work (docs/performance.md#per-event-work).

use super::{CodecError, MAX_DEPTH, Reader, kind};
use serde::de::{
    self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
    value::BorrowedStrDeserializer,
};
use serde::forward_to_deserialize_any;

impl de::Error for CodecError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        CodecError::Body(message.to_string())
    }
}

/// One encoded value as `T`: the whole of `bytes` (a type byte and its content).
pub fn from_value<T: de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let mut reader = Reader(bytes);
    let value = T::deserialize(Value::new(&mut reader, 0))?;
    match reader.0.len() {
        0 => Ok(value),
        left => Err(CodecError::TrailingBytes(left)),
    }
}

/// The next value of `reader`, `depth` levels below the item's top. `known` is the type of a
/// set's element, whose type byte the encoding leaves out.
struct Value<'de, 'r> {
    reader: &'r mut Reader<'de>,
    depth: usize,
    known: Option<u8>,
}

fn mismatch(expected: &str) -> CodecError {
    CodecError::Body(format!("expected {expected}"))
}

impl<'de, 'r> Value<'de, 'r> {
    fn new(reader: &'r mut Reader<'de>, depth: usize) -> Self {
        Self {
            reader,
            depth,
            known: None,
        }
    }

    /// The value's type, without reading past it.
    fn peek(&self) -> Result<u8, CodecError> {
        match self.known {
            Some(known) => Ok(known),
            None => self.reader.0.first().copied().ok_or(CodecError::Truncated),
        }
    }

    /// The value's type, read.
    fn kind(&mut self) -> Result<u8, CodecError> {
        match self.known {
            Some(known) => Ok(known),
            None => self.reader.byte(),
        }
    }

    /// The level a map or list value opens.
    fn inner(&self) -> Result<usize, CodecError> {
        match self.depth + 1 {
            inner if inner > MAX_DEPTH => Err(CodecError::TooDeep),
            inner => Ok(inner),
        }
    }

    /// The text of a value of type `expected` (text, number or bytes carry their content alike).
    fn content(&mut self, expected: u8, name: &str) -> Result<&'de [u8], CodecError> {
        match self.kind()? {
            found if found == expected => self.reader.bytes(),
            _ => Err(mismatch(name)),
        }
    }

    fn text(&mut self) -> Result<&'de str, CodecError> {
        let bytes = self.content(kind::S, "a string")?;
        std::str::from_utf8(bytes).map_err(|_| CodecError::NotUtf8)
    }

    fn number(&mut self) -> Result<&'de str, CodecError> {
        let bytes = self.content(kind::N, "a number")?;
        std::str::from_utf8(bytes).map_err(|_| CodecError::NotUtf8)
    }

    /// A BOOL or NULL value's flag.
    fn flag(&mut self, expected: u8, name: &str) -> Result<bool, CodecError> {
        match self.kind()? {
            found if found == expected => Ok(self.reader.byte()? != 0),
            _ => Err(mismatch(name)),
        }
    }

    /// A number as serde_dynamo reads one of unknown type: an `i64`, else a `u64`, else an `f64`.
    fn any_number<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, CodecError> {
        let text = self.number()?;
        if let Ok(n) = text.parse::<i64>() {
            visitor.visit_i64(n)
        } else if let Ok(n) = text.parse::<u64>() {
            visitor.visit_u64(n)
        } else {
            text.parse::<f64>()
                .map_err(|e| CodecError::Body(format!("a number: {e}")))
                .and_then(|n| visitor.visit_f64(n))
        }
    }

    /// A list (`L`) or a set, element by element.
    fn seq<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, CodecError> {
        let element = match self.kind()? {
            kind::L => None,
            kind::SS => Some(kind::S),
            kind::NS => Some(kind::N),
            kind::BS => Some(kind::B),
            _ => return Err(mismatch("a list or set")),
        };
        let depth = self.inner()?;
        let (left, _) = self.reader.count()?;
        let mut access = Elements {
            reader: self.reader,
            depth,
            element,
            left,
        };
        let value = visitor.visit_seq(&mut access)?;
        access.finish()?;
        Ok(value)
    }

    fn map<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, CodecError> {
        if self.kind()? != kind::M {
            return Err(mismatch("a map"));
        }
        let depth = self.inner()?;
        let (left, _) = self.reader.count()?;
        let mut access = Entries {
            reader: self.reader,
            depth,
            left,
            value_next: false,
        };
        let value = visitor.visit_map(&mut access)?;
        access.finish()?;
        Ok(value)
    }
}

macro_rules! numbers {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, CodecError> {
            let text = self.number()?;
            let n = text
                .parse::<$ty>()
                .map_err(|e| CodecError::Body(format!("a number: {e}")))?;
            visitor.$visit(n)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Value<'de, '_> {
    type Error = CodecError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        match self.peek()? {
            kind::S => self.deserialize_str(visitor),
            kind::N => self.any_number(visitor),
            kind::BOOL => self.deserialize_bool(visitor),
            kind::NULL => self.deserialize_unit(visitor),
            kind::B => self.deserialize_bytes(visitor),
            kind::M => self.map(visitor),
            kind::L | kind::SS | kind::NS | kind::BS => self.seq(visitor),
            unknown => Err(CodecError::UnknownType(unknown)),
        }
    }

    numbers! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }

    fn deserialize_bool<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_bool(self.flag(kind::BOOL, "a boolean")?)
    }

    fn deserialize_char<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, CodecError> {
        let mut chars = self.text()?.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => visitor.visit_char(c),
            _ => Err(mismatch("a single character")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_borrowed_str(self.text()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_borrowed_bytes(self.content(kind::B, "bytes")?)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, CodecError> {
        // NULL true is "none"; anything else is the value itself (NULL false fails there).
        if self.peek()? == kind::NULL && self.reader.0.get(1) == Some(&1) {
            self.flag(kind::NULL, "null")?;
            return visitor.visit_none();
        }
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, CodecError> {
        match self.flag(kind::NULL, "null")? {
            true => visitor.visit_unit(),
            false => Err(mismatch("null")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        self.seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        self.seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        self.seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        self.map(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        match self.peek()? {
            kind::L => self.seq(visitor),
            _ => self.map(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        mut self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        match self.peek()? {
            kind::S => visitor.visit_enum(BorrowedStrDeserializer::new(self.text()?)),
            kind::M => {
                self.kind()?;
                let depth = self.inner()?;
                match self.reader.count()? {
                    (1, _) => {}
                    _ => return Err(mismatch("a map with a single key")),
                }
                visitor.visit_enum(Variant {
                    reader: self.reader,
                    depth,
                })
            }
            _ => Err(mismatch("an enum")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        self.deserialize_any(visitor)
    }
}

/// The elements of a list or set.
struct Elements<'de, 'r> {
    reader: &'r mut Reader<'de>,
    depth: usize,
    element: Option<u8>,
    left: usize,
}

impl Elements<'_, '_> {
    /// Skips what the visitor left unread, so that the values after the list are read in place.
    fn finish(&mut self) -> Result<(), CodecError> {
        while self.left > 0 {
            self.left -= 1;
            match self.element {
                None => self.reader.skip_value(self.depth)?,
                Some(_) => {
                    self.reader.bytes()?;
                }
            }
        }
        Ok(())
    }
}

impl<'de> SeqAccess<'de> for Elements<'de, '_> {
    type Error = CodecError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, CodecError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(Value {
            reader: self.reader,
            depth: self.depth,
            known: self.element,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// The entries of a map.
struct Entries<'de, 'r> {
    reader: &'r mut Reader<'de>,
    depth: usize,
    left: usize,
    /// A name was read, its value not yet.
    value_next: bool,
}

impl Entries<'_, '_> {
    /// Skips what the visitor left unread, so that the values after the map are read in place.
    fn finish(&mut self) -> Result<(), CodecError> {
        if self.value_next {
            self.reader.skip_value(self.depth)?;
        }
        while self.left > 0 {
            self.left -= 1;
            self.reader.bytes()?;
            self.reader.skip_value(self.depth)?;
        }
        Ok(())
    }
}

impl<'de> MapAccess<'de> for Entries<'de, '_> {
    type Error = CodecError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, CodecError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let name = std::str::from_utf8(self.reader.bytes()?).map_err(|_| CodecError::NotUtf8)?;
        self.value_next = true;
        seed.deserialize(Name(name)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, CodecError> {
        self.value_next = false;
        seed.deserialize(Value::new(self.reader, self.depth))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// A map entry's name, as serde_dynamo reads one: text, or a number or boolean spelt as text.
struct Name<'de>(&'de str);

macro_rules! numeric_names {
    ($($method:ident => $visit:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
            visitor.$visit(self.0.parse().map_err(|_| mismatch("a number"))?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Name<'de> {
    type Error = CodecError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_borrowed_str(self.0)
    }

    numeric_names! {
        deserialize_i8 => visit_i8,
        deserialize_i16 => visit_i16,
        deserialize_i32 => visit_i32,
        deserialize_i64 => visit_i64,
        deserialize_i128 => visit_i128,
        deserialize_u8 => visit_u8,
        deserialize_u16 => visit_u16,
        deserialize_u32 => visit_u32,
        deserialize_u64 => visit_u64,
        deserialize_u128 => visit_u128,
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        match self.0 {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => Err(mismatch("a string")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_enum(BorrowedStrDeserializer::new(self.0))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        f32 f64 char str string bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// An enum variant with content: a map of one entry, the variant's name and its value.
struct Variant<'de, 'r> {
    reader: &'r mut Reader<'de>,
    depth: usize,
}

impl<'de, 'r> EnumAccess<'de> for Variant<'de, 'r> {
    type Error = CodecError;
    type Variant = Value<'de, 'r>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Value<'de, 'r>), CodecError> {
        let name = std::str::from_utf8(self.reader.bytes()?).map_err(|_| CodecError::NotUtf8)?;
        let variant = seed.deserialize(BorrowedStrDeserializer::<CodecError>::new(name))?;
        Ok((variant, Value::new(self.reader, self.depth)))
    }
}

impl<'de> VariantAccess<'de> for Value<'de, '_> {
    type Error = CodecError;

    fn unit_variant(self) -> Result<(), CodecError> {
        // serde_dynamo accepts any value here; it is read past all the same.
        self.reader.skip_value(self.depth)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, CodecError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        self.seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        self.map(visitor)
    }
}
