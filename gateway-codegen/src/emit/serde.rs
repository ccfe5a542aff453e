//! serde impls (proto JSON mapping) for the message types, via pbjson-build.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use prost::Message;
use prost_types::FileDescriptorSet;

/// Generates serde impls for every message and enum of `packages`.
///
/// Output uses proto field names exactly as written (`range_end`, `ID`, `dbSize`) and input
/// ignores unknown fields, as etcd's gateway does. Numbers, `bytes` and enums are read with the
/// field decoders of `gateway_runtime::json` (see [`use_runtime_decoders`]).
pub fn emit(set: &FileDescriptorSet, packages: &[String]) -> Result<BTreeMap<String, String>> {
    let prefixes: Vec<String> = packages.iter().map(|p| format!(".{p}")).collect();
    let mut builder = pbjson_build::Builder::new();
    builder
        .register_descriptors(&set.encode_to_vec())
        .context("registering descriptors for serde generation")?
        .preserve_proto_field_names()
        .ignore_unknown_fields();
    let written = builder
        .generate(&prefixes, |_| Ok(Vec::<u8>::new()))
        .context("generating serde impls")?;
    written
        .into_iter()
        .map(|(package, bytes)| {
            let code = String::from_utf8(bytes).context("serde output is not UTF-8")?;
            Ok((package.to_string(), use_runtime_decoders(&code)))
        })
        .collect()
}

/// Path of the runtime's field decoders in generated code.
const RUNTIME: &str = "::gateway_runtime::json";

/// Rewrites pbjson's field decoding to the runtime's decoders, which accept what etcd's gateway
/// accepts (line-wrapped base64, `bytes` as an array of byte values, unknown enum numbers) and
/// fail with messages naming what was expected and found:
///
/// * `::pbjson::private::{Number,Bytes}Deserialize` → the runtime's types of the same names;
/// * an enum read as `next_value::<E>()? as i32` (also in `Vec<E>` and `Option<E>` forms) →
///   `next_value::<OpenEnum<E>>()?.0`, so an unknown number is passed on.
fn use_runtime_decoders(code: &str) -> String {
    let code = code
        .replace(
            "::pbjson::private::NumberDeserialize",
            &format!("{RUNTIME}::NumberDeserialize"),
        )
        .replace(
            "::pbjson::private::BytesDeserialize",
            &format!("{RUNTIME}::BytesDeserialize"),
        );
    const OPEN: &str = "map_.next_value::<";
    let mut out = String::with_capacity(code.len());
    let mut rest = code.as_str();
    while let Some(found) = rest.find(OPEN) {
        let type_start = found + OPEN.len();
        out.push_str(&rest[..type_start]);
        rest = &rest[type_start..];
        let type_end = closing_angle(rest);
        let (type_name, after) = rest.split_at(type_end);
        let after = after.strip_prefix(">()?").unwrap_or(after);
        let forms = [
            (" as i32", ""),
            (
                ".into_iter().map(|x| x as i32)",
                ".into_iter().map(|x| x.0)",
            ),
            (".map(|x| x as i32)", ".map(|x| x.0)"),
        ];
        let matched = forms.iter().find(|(suffix, _)| after.starts_with(suffix));
        match matched {
            Some((suffix, replacement)) => {
                out.push_str(&wrap_enum(type_name));
                out.push_str(">()?");
                if suffix.starts_with(" as") {
                    out.push_str(".0");
                }
                out.push_str(replacement);
                rest = &after[suffix.len()..];
            }
            None => {
                out.push_str(type_name);
                rest = &rest[type_end..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The byte index of the `>` closing a generic argument list that starts at `text`'s beginning.
fn closing_angle(text: &str) -> usize {
    let mut depth = 0usize;
    for (index, character) in text.char_indices() {
        match character {
            '<' => depth += 1,
            '>' if depth == 0 => return index,
            '>' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

/// `E` → `OpenEnum<E>`, and the element of `Vec<E>` / `Option<E>` likewise.
fn wrap_enum(type_name: &str) -> String {
    for container in ["Vec<", "::std::option::Option<"] {
        if let Some(inner) = type_name
            .strip_prefix(container)
            .and_then(|inner| inner.strip_suffix('>'))
        {
            return format!("{container}{RUNTIME}::OpenEnum<{inner}>>");
        }
    }
    format!("{RUNTIME}::OpenEnum<{type_name}>")
}

#[cfg(test)]
mod tests {
    use super::use_runtime_decoders;

    #[test]
    fn enums_become_open_and_numbers_use_the_runtime() {
        assert_eq!(
            use_runtime_decoders("Some(map_.next_value::<a::E>()? as i32)"),
            "Some(map_.next_value::<::gateway_runtime::json::OpenEnum<a::E>>()?.0)"
        );
        assert_eq!(
            use_runtime_decoders(
                "Some(map_.next_value::<Vec<E>>()?.into_iter().map(|x| x as i32).collect())"
            ),
            "Some(map_.next_value::<Vec<::gateway_runtime::json::OpenEnum<E>>>()?\
             .into_iter().map(|x| x.0).collect())"
        );
        assert_eq!(
            use_runtime_decoders("map_.next_value::<::std::option::Option<_>>()?.map(M::A)"),
            "map_.next_value::<::std::option::Option<_>>()?.map(M::A)"
        );
        assert_eq!(
            use_runtime_decoders(
                "Some(map_.next_value::<::pbjson::private::NumberDeserialize<_>>()?.0)"
            ),
            "Some(map_.next_value::<::gateway_runtime::json::NumberDeserialize<_>>()?.0)"
        );
    }
}
