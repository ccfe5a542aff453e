//! Field paths of a binding resolved against a message, checking each step.

use anyhow::{Context, Result, bail};
use prost_reflect::{Kind, MessageDescriptor};

use super::FieldPath;
use crate::well_known;

/// The field at the dotted path `path` from `message`.
pub(super) fn field_path(message: &MessageDescriptor, path: &str) -> Result<FieldPath> {
    let names: Vec<String> = path.split('.').map(str::to_owned).collect();
    resolve(message, &names)
}

/// The field a path variable sets: a scalar, an enum or a well-known type (repeated only for
/// scalars and enums).
pub(super) fn path_variable(message: &MessageDescriptor, names: &[String]) -> Result<FieldPath> {
    let resolved = resolve(message, names)?;
    if let Kind::Message(message_type) = resolved.field.kind() {
        if well_known::json_form(&format!(".{}", message_type.full_name())).is_none() {
            bail!("must be a scalar, enum or well-known type");
        }
        if resolved.field.is_list() {
            bail!("a repeated path variable must be a scalar or enum");
        }
    }
    Ok(resolved)
}

fn resolve(message: &MessageDescriptor, names: &[String]) -> Result<FieldPath> {
    let mut current = message.clone();
    let mut field = None;
    for (index, name) in names.iter().enumerate() {
        if index > 0 {
            let Some(Kind::Message(next)) =
                field.as_ref().map(prost_reflect::FieldDescriptor::kind)
            else {
                bail!("{} is not a message field", names[..index].join("."));
            };
            current = next;
        }
        field = Some(
            current
                .get_field_by_name(name)
                .with_context(|| format!("{} has no field {name}", current.full_name()))?,
        );
    }
    Ok(FieldPath {
        names: names.to_vec(),
        field: field.context("empty field path")?,
    })
}
