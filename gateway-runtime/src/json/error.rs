//! The decode error: the field path, what was expected and what was found, in words.

use std::fmt;

use serde::de::{Expected, Unexpected};

/// Prefix of a custom error message that reports bad base64; rendered as
/// `invalid base64 in "<path>" <rest>`.
pub(crate) const BASE64_PREFIX: &str = "invalid base64";

/// One step of a field path.
#[derive(Debug, Clone)]
enum Segment {
    /// An object member, by the name the client sent.
    Key(String),
    /// An array element.
    Index(usize),
}

/// What went wrong at the path.
#[derive(Debug, Clone)]
enum Kind {
    /// A value of the wrong type or out of range.
    Invalid { expected: String, found: String },
    /// A message produced by a field's decoder.
    Message(String),
}

/// A request decoding failure with the field path it occurred at.
#[derive(Debug, Clone)]
pub struct DecodeError {
    /// Innermost segment first (segments are added while the error propagates outwards).
    path: Vec<Segment>,
    kind: Kind,
}

impl DecodeError {
    /// Adds the object member the error occurred in.
    pub(crate) fn in_key(mut self, key: &str) -> Self {
        self.path.push(Segment::Key(key.to_owned()));
        self
    }

    /// Adds the array element the error occurred in.
    pub(crate) fn in_index(mut self, index: usize) -> Self {
        self.path.push(Segment::Index(index));
        self
    }

    /// The field path as `compare[0].target`; empty at the top level.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for segment in self.path.iter().rev() {
            match segment {
                Segment::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Segment::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        out
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        let place = if path.is_empty() {
            "the request body".to_owned()
        } else {
            format!("\"{path}\"")
        };
        match &self.kind {
            Kind::Invalid { expected, found } => {
                write!(
                    formatter,
                    "invalid value for {place}: expected {expected}, found {found}"
                )
            }
            Kind::Message(message) => match message.strip_prefix(BASE64_PREFIX) {
                Some(rest) => write!(formatter, "{BASE64_PREFIX} in {place}{rest}"),
                None => write!(formatter, "invalid value for {place}: {message}"),
            },
        }
    }
}

impl std::error::Error for DecodeError {}

impl serde::de::Error for DecodeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        DecodeError {
            path: Vec::new(),
            kind: Kind::Message(message.to_string()),
        }
    }

    fn invalid_type(found: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self::invalid(describe(&found), expected)
    }

    fn invalid_value(found: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self::invalid(describe(&found), expected)
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let names: Vec<String> = expected.iter().map(|name| format!("\"{name}\"")).collect();
        DecodeError {
            path: Vec::new(),
            kind: Kind::Invalid {
                expected: format!("one of {} or an enum number", names.join(", ")),
                found: quote(variant),
            },
        }
    }
}

impl DecodeError {
    fn invalid(found: String, expected: &dyn Expected) -> Self {
        DecodeError {
            path: Vec::new(),
            kind: Kind::Invalid {
                expected: expectation(&expected.to_string()),
                found,
            },
        }
    }
}

/// Rewords serde's and the generated visitors' expectations for people.
fn expectation(expected: &str) -> String {
    match expected {
        "a sequence" => "an array".to_owned(),
        "a boolean" | "a string" => expected.to_owned(),
        other if other.starts_with("struct ") => "a JSON object".to_owned(),
        other => other.to_owned(),
    }
}

/// A found value in words: numbers and booleans as written, strings quoted, containers by kind.
fn describe(found: &Unexpected<'_>) -> String {
    match found {
        Unexpected::Bool(value) => value.to_string(),
        Unexpected::Unsigned(value) => value.to_string(),
        Unexpected::Signed(value) => value.to_string(),
        Unexpected::Float(value) => value.to_string(),
        Unexpected::Char(value) => quote(&value.to_string()),
        Unexpected::Str(value) => quote(value),
        Unexpected::Unit | Unexpected::Option => "null".to_owned(),
        Unexpected::Seq => "an array".to_owned(),
        Unexpected::Map => "an object".to_owned(),
        other => other.to_string(),
    }
}

/// A string value as JSON text, shortened when long.
fn quote(value: &str) -> String {
    const LIMIT: usize = 40;
    let shown: String = value.chars().take(LIMIT).collect();
    let quoted = serde_json::Value::String(shown).to_string();
    if value.chars().count() > LIMIT {
        format!("{quoted}…")
    } else {
        quoted
    }
}
