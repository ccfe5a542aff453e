//! Proto JSON decoding support: field decoders for the generated serde code, and decoding of a
//! JSON tree with errors that name the field path, what was expected and what was found.

mod base64;
mod error;
mod fields;
mod value;

pub use error::DecodeError;
pub use fields::{BytesDeserialize, NumberDeserialize, OpenEnum, ProtoNumber};
pub(crate) use value::from_value;
