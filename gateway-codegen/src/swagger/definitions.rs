//! The types a document defines: what operations reach, and the built-in error types.

use std::collections::{BTreeMap, VecDeque};

use anyhow::{Result, bail};
use prost_reflect::{DescriptorPool, EnumDescriptor, Kind, MessageDescriptor};

use super::{
    Context, fqn,
    schema::{Schema, enum_schema, message_schema, well_known},
};

/// Fully qualified name of the error status every operation can answer with.
pub(super) const STATUS: &str = ".google.rpc.Status";
/// Fully qualified name of `google.protobuf.Any`.
pub(super) const ANY: &str = ".google.protobuf.Any";

/// A type that gets an entry under `definitions`.
#[derive(Clone)]
pub(super) enum Definition {
    /// A proto message.
    Message(MessageDescriptor),
    /// A proto enum.
    Enum(EnumDescriptor),
    /// `google.rpc.Status`, as the generator's built-in error type.
    Status,
    /// `google.protobuf.Any`, as rendered for JSON (`@type` plus any properties).
    Any,
}

impl Definition {
    /// The definition of the message or enum named `fqn` (with leading dot).
    pub(super) fn resolve(pool: &DescriptorPool, fqn: &str) -> Result<Self> {
        let name = fqn.trim_start_matches('.');
        Ok(match fqn {
            STATUS => Self::Status,
            ANY => Self::Any,
            _ => match (pool.get_message_by_name(name), pool.get_enum_by_name(name)) {
                (Some(message), _) => Self::Message(message),
                (None, Some(descriptor)) => Self::Enum(descriptor),
                (None, None) => bail!("swagger: unknown type {fqn}"),
            },
        })
    }

    /// Whether the type is defined under `definitions` (well-known types are inlined and map
    /// entries become `additionalProperties`).
    pub(super) fn is_rendered(&self) -> bool {
        match self {
            Self::Message(message) => {
                !message.is_map_entry() && well_known(&fqn(message.full_name())).is_none()
            }
            _ => true,
        }
    }

    /// The types this one refers to through its fields.
    fn referenced(&self) -> Vec<String> {
        match self {
            Self::Message(message) => message
                .fields()
                .filter_map(|field| match field.kind() {
                    Kind::Message(message) => Some(fqn(message.full_name())),
                    Kind::Enum(descriptor) => Some(fqn(descriptor.full_name())),
                    _ => None,
                })
                .collect(),
            Self::Status => vec![ANY.to_owned()],
            Self::Enum(_) | Self::Any => Vec::new(),
        }
    }

    /// The definition's schema.
    pub(super) fn schema(&self, ctx: &Context) -> Result<Schema> {
        match self {
            Self::Message(message) => message_schema(ctx, message, &[]),
            Self::Enum(descriptor) => Ok(enum_schema(ctx, descriptor)),
            Self::Status => status_schema(ctx),
            Self::Any => Ok(Schema {
                properties: Some(vec![("@type".to_owned(), Schema::typed("string", None))]),
                additional: Some(Box::default()),
                ..Schema::typed("object", None)
            }),
        }
    }
}

/// Every type reachable from `roots` (included) through fields, by fully qualified name.
pub(super) fn reachable(
    pool: &DescriptorPool,
    roots: impl IntoIterator<Item = String>,
) -> Result<BTreeMap<String, Definition>> {
    let mut found = BTreeMap::new();
    let mut queue: VecDeque<String> = roots.into_iter().collect();
    while let Some(name) = queue.pop_front() {
        if found.contains_key(&name) {
            continue;
        }
        let definition = Definition::resolve(pool, &name)?;
        queue.extend(definition.referenced());
        found.insert(name, definition);
    }
    Ok(found)
}

/// The types the fields of `message` refer to.
pub(super) fn field_types(message: &MessageDescriptor) -> Vec<String> {
    Definition::Message(message.clone()).referenced()
}

/// The schema of the error status: `code`, `message` and `details` (a list of `Any`).
fn status_schema(ctx: &Context) -> Result<Schema> {
    let details = Schema {
        items: Some(Box::new(Schema {
            kind: Some("object"),
            ..Schema::reference(ctx.names.reference(ANY)?)
        })),
        ..Schema::typed("array", None)
    };
    Ok(Schema {
        properties: Some(vec![
            ("code".to_owned(), Schema::typed("integer", Some("int32"))),
            ("message".to_owned(), Schema::typed("string", None)),
            ("details".to_owned(), details),
        ]),
        ..Schema::typed("object", None)
    })
}
