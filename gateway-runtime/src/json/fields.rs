//! Field decoders used by the generated serde code: numbers, bytes and open enums, each
//! accepting what etcd's gateway accepts and failing with words a person can act on.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Unexpected, Visitor};

use super::{base64, error::BASE64_PREFIX};

/// A proto number field: a JSON number or a numeric string.
#[derive(Debug)]
pub struct NumberDeserialize<T>(pub T);

/// The number types of proto fields.
pub trait ProtoNumber: Sized {
    /// What a person must send, e.g. "an integer (number or numeric string)".
    const EXPECTED: &'static str;
    /// From a JSON integer, `None` when out of range.
    fn from_i128(value: i128) -> Option<Self>;
    /// From a JSON number with a fraction or exponent, `None` when not representable.
    fn from_f64(value: f64) -> Option<Self>;
    /// From a numeric string.
    fn from_text(text: &str) -> Option<Self>;
}

macro_rules! integer {
    ($($ty:ty => $expected:literal),*) => {$(
        impl ProtoNumber for $ty {
            const EXPECTED: &'static str = $expected;
            fn from_i128(value: i128) -> Option<Self> {
                <$ty>::try_from(value).ok()
            }
            fn from_f64(_: f64) -> Option<Self> {
                None
            }
            fn from_text(text: &str) -> Option<Self> {
                text.parse().ok()
            }
        }
    )*};
}

integer! {
    i32 => "a 32-bit integer (number or numeric string)",
    i64 => "an integer (number or numeric string)",
    u32 => "a non-negative 32-bit integer (number or numeric string)",
    u64 => "a non-negative integer (number or numeric string)"
}

macro_rules! float {
    ($($ty:ty),*) => {$(
        impl ProtoNumber for $ty {
            const EXPECTED: &'static str = "a number (or numeric string)";
            fn from_i128(value: i128) -> Option<Self> {
                Some(value as $ty)
            }
            fn from_f64(value: f64) -> Option<Self> {
                Some(value as $ty)
            }
            fn from_text(text: &str) -> Option<Self> {
                match text {
                    "NaN" => Some(<$ty>::NAN),
                    "Infinity" => Some(<$ty>::INFINITY),
                    "-Infinity" => Some(<$ty>::NEG_INFINITY),
                    _ => text.parse().ok(),
                }
            }
        }
    )*};
}

float!(f32, f64);

impl<'de, T: ProtoNumber> Deserialize<'de> for NumberDeserialize<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(NumberVisitor(PhantomData))
            .map(NumberDeserialize)
    }
}

struct NumberVisitor<T>(PhantomData<T>);

impl<T: ProtoNumber> NumberVisitor<T> {
    fn out_of_range<E: de::Error>(&self, found: Unexpected<'_>) -> E {
        E::invalid_value(found, self)
    }
}

impl<T: ProtoNumber> Visitor<'_> for NumberVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(T::EXPECTED)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        T::from_i128(value.into()).ok_or_else(|| self.out_of_range(Unexpected::Signed(value)))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        T::from_i128(value.into()).ok_or_else(|| self.out_of_range(Unexpected::Unsigned(value)))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        T::from_f64(value).ok_or_else(|| self.out_of_range(Unexpected::Float(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        T::from_text(value).ok_or_else(|| self.out_of_range(Unexpected::Str(value)))
    }
}

/// A proto `bytes` field: base64 text (standard or URL-safe, padding optional, `\r`/`\n`
/// ignored) or an array of byte values.
#[derive(Debug)]
pub struct BytesDeserialize<T>(pub T);

impl<'de, T: From<Vec<u8>>> Deserialize<'de> for BytesDeserialize<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(BytesVisitor)
            .map(|bytes| BytesDeserialize(T::from(bytes)))
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("base64 text or an array of byte values")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Vec<u8>, E> {
        base64::decode(value).map_err(|err| E::custom(format!("{BASE64_PREFIX}{}", err.0)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(ByteValue(byte)) = seq.next_element()? {
            bytes.push(byte);
        }
        Ok(bytes)
    }
}

/// One element of a `bytes` field given as an array.
struct ByteValue(u8);

impl<'de> Deserialize<'de> for ByteValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ByteVisitor).map(ByteValue)
    }
}

struct ByteVisitor;

impl Visitor<'_> for ByteVisitor {
    type Value = u8;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a byte value (an integer from 0 to 255)")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u8, E> {
        u8::try_from(value).map_err(|_| E::invalid_value(Unexpected::Signed(value), &self))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u8, E> {
        u8::try_from(value).map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
    }
}

/// A proto enum field, open as proto3 enums are: a value name, or any 32-bit number (passed on
/// unchecked; the server decides what an unknown number means).
#[derive(Debug)]
pub struct OpenEnum<E>(pub i32, PhantomData<E>);

impl<'de, E> Deserialize<'de> for OpenEnum<E>
where
    E: Deserialize<'de> + Into<i32>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(EnumVisitor::<E>(PhantomData))
            .map(|number| OpenEnum(number, PhantomData))
    }
}

struct EnumVisitor<E>(PhantomData<E>);

impl<'de, E> Visitor<'de> for EnumVisitor<E>
where
    E: Deserialize<'de> + Into<i32>,
{
    type Value = i32;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an enum value name or a 32-bit number")
    }

    fn visit_i64<Err: de::Error>(self, value: i64) -> Result<i32, Err> {
        i32::try_from(value).map_err(|_| Err::invalid_value(Unexpected::Signed(value), &self))
    }

    fn visit_u64<Err: de::Error>(self, value: u64) -> Result<i32, Err> {
        i32::try_from(value).map_err(|_| Err::invalid_value(Unexpected::Unsigned(value), &self))
    }

    fn visit_str<Err: de::Error>(self, value: &str) -> Result<i32, Err> {
        let name = de::value::StrDeserializer::<Err>::new(value);
        E::deserialize(name).map(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::from_value;
    use serde::de::DeserializeOwned;
    use serde_json::json;

    #[derive(Debug, PartialEq, Eq, serde::Deserialize)]
    enum Order {
        #[serde(rename = "ASCEND")]
        Ascend,
    }

    impl From<Order> for i32 {
        fn from(_: Order) -> i32 {
            1
        }
    }

    /// The message for `{"field": value}` decoded as a map of `T`.
    fn error<T: DeserializeOwned>(value: serde_json::Value) -> String {
        let wrapped = json!({ "field": value });
        match from_value::<std::collections::BTreeMap<String, T>>(wrapped) {
            Ok(_) => panic!("decoded"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn numbers_accept_numbers_and_numeric_strings() {
        let value: NumberDeserialize<i64> = serde_json::from_str(r#""-5""#).unwrap();
        assert_eq!(value.0, -5);
        let value: NumberDeserialize<u64> = serde_json::from_str("18446744073709551615").unwrap();
        assert_eq!(value.0, u64::MAX);
        assert_eq!(
            error::<NumberDeserialize<u32>>(json!(-1)),
            r#"invalid value for "field": expected a non-negative 32-bit integer (number or numeric string), found -1"#
        );
    }

    #[test]
    fn bytes_accept_base64_and_byte_arrays() {
        let value: BytesDeserialize<Vec<u8>> = serde_json::from_str(r#""Zm9v\nYg==""#).unwrap();
        assert_eq!(value.0, b"foob");
        let value: BytesDeserialize<Vec<u8>> = serde_json::from_str("[102,111]").unwrap();
        assert_eq!(value.0, b"fo");
        assert_eq!(
            error::<BytesDeserialize<Vec<u8>>>(json!("a!")),
            r#"invalid base64 in "field" at character 2 ('!')"#
        );
    }

    #[test]
    fn enums_are_open() {
        let value: OpenEnum<Order> = serde_json::from_str("99").unwrap();
        assert_eq!(value.0, 99);
        let value: OpenEnum<Order> = serde_json::from_str(r#""ASCEND""#).unwrap();
        assert_eq!(value.0, 1);
        assert_eq!(
            error::<OpenEnum<Order>>(json!(true)),
            r#"invalid value for "field": expected an enum value name or a 32-bit number, found true"#
        );
    }
}
