//! A serde deserializer over a query string's values by name: text fields read the
//! text, numbers and booleans parse it, enums match it against their names, sequences
//! take every value given, and every error carries the name of its parameter.

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use std::collections::btree_map;
use std::collections::BTreeMap;
use std::fmt;

/// Why a parameter did not parse, and which one.
#[derive(Debug)]
pub struct FieldError {
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

impl de::Error for FieldError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        FieldError {
            field: None,
            message: msg.to_string(),
        }
    }

    fn missing_field(field: &'static str) -> Self {
        FieldError {
            field: Some(field.to_owned()),
            message: "is required".into(),
        }
    }
}

/// The whole query string, as a map from names to values.
pub struct Fields {
    entries: btree_map::IntoIter<String, Vec<String>>,
    next_values: Option<Vec<String>>,
    current: Option<String>,
}

impl Fields {
    pub fn new(values: BTreeMap<String, Vec<String>>) -> Fields {
        Fields {
            entries: values.into_iter(),
            next_values: None,
            current: None,
        }
    }
}

impl<'de> de::Deserializer<'de> for Fields {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_map(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> MapAccess<'de> for Fields {
    type Error = FieldError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, FieldError> {
        let Some((name, values)) = self.entries.next() else {
            return Ok(None);
        };
        self.next_values = Some(values);
        let key = seed.deserialize(name.as_str().into_deserializer())?;
        self.current = Some(name);
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, FieldError> {
        let values = self.next_values.take().unwrap_or_default();
        seed.deserialize(Values(values)).map_err(|err| FieldError {
            field: err.field.or_else(|| self.current.clone()),
            message: err.message,
        })
    }
}

/// Every value given for one name (at least one).
struct Values(Vec<String>);

impl Values {
    /// The value a scalar field reads: the last one given.
    fn last(&self) -> &str {
        self.0.last().map_or("", String::as_str)
    }
}

impl<'de> de::Deserializer<'de> for Values {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_str(self.last())
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_some(self)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        match self.last() {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => Err(de::Error::custom("must be true or false")),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        let number = self
            .last()
            .parse()
            .map_err(|_| de::Error::custom("must be a whole number"))?;
        visitor.visit_u64(number)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        let name: StrDeserializer<'_, FieldError> = self.last().into_deserializer();
        visitor.visit_enum(name)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_seq(Sequence(self.0.into_iter()))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct tuple
        tuple_struct map struct identifier ignored_any
    }
}

struct Sequence(std::vec::IntoIter<String>);

impl<'de> SeqAccess<'de> for Sequence {
    type Error = FieldError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, FieldError> {
        self.0
            .next()
            .map(|value| seed.deserialize(Values(vec![value])))
            .transpose()
    }
}

/// The names a struct's derived `Deserialize` reads (serde's `fields`, renames applied),
/// found by asking it to deserialize from a probe that only records them: no schema is
/// built on a request's path.
pub fn field_names<T: de::DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// Records the fields `deserialize_struct` is called with, and stops there.
struct Probe<'a>(&'a mut &'static [&'static str]);

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, FieldError> {
        Err(de::Error::custom("a query is read into a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, FieldError> {
        *self.0 = fields;
        Err(de::Error::custom("probed"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}
