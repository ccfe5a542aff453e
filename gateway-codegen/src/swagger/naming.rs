//! Definition names: protoc-gen-openapiv2's default (`legacy`) naming strategy.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Result, anyhow};

/// OpenAPI names of fully qualified proto names (messages, enums and methods, with the leading
/// dot, e.g. `.etcdserverpb.RangeRequest`).
///
/// A name is the shortest suffix of its dot-separated components that is unique among all names
/// in scope, plus one more component, concatenated; package components after the first are
/// capitalised (`.google.rpc.Status` → `googleRpcStatus`, `.etcdserverpb.RangeRequest.SortOrder`
/// → `RangeRequestSortOrder`).
pub(super) struct Names {
    names: HashMap<String, String>,
}

impl Names {
    /// Names every element of `scope`; only these names can be looked up.
    pub(super) fn new(scope: &BTreeSet<String>) -> Self {
        let mut suffixes: HashMap<(usize, String), usize> = HashMap::new();
        for name in scope {
            let parts: Vec<&str> = name.split('.').collect();
            for depth in 0..parts.len() {
                *suffixes
                    .entry((depth, parts[parts.len() - depth..].join(".")))
                    .or_default() += 1;
            }
        }
        let names = scope
            .iter()
            .map(|name| {
                let parts: Vec<&str> = name.split('.').collect();
                let depth = (0..parts.len())
                    .find(|&depth| suffixes[&(depth, parts[parts.len() - depth..].join("."))] == 1)
                    .unwrap_or(parts.len());
                let start = parts.len().saturating_sub(depth + 1);
                (name.clone(), join_components(&parts[start..]))
            })
            .collect();
        Self { names }
    }

    /// The OpenAPI name of `fqn`.
    pub(super) fn get(&self, fqn: &str) -> Result<&str> {
        self.names
            .get(fqn)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("swagger: no definition name for {fqn}"))
    }

    /// The JSON reference `#/definitions/<name>` to `fqn`.
    pub(super) fn reference(&self, fqn: &str) -> Result<String> {
        Ok(format!("#/definitions/{}", self.get(fqn)?))
    }
}

/// Concatenates name components, capitalising all-lowercase intermediate components.
fn join_components(parts: &[&str]) -> String {
    let parts: Vec<&str> = parts
        .iter()
        .copied()
        .filter(|part| !part.is_empty())
        .collect();
    let mut out = String::new();
    for (index, part) in parts.iter().enumerate() {
        let intermediate = index > 0 && index + 1 < parts.len();
        let lowercase = part.chars().all(|c| !c.is_uppercase());
        let mut chars = part.chars();
        match chars.next() {
            Some(first) if intermediate && lowercase => {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
            _ => out.push_str(part),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Names {
        Names::new(&list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn unique_suffix_plus_one_component() {
        let names = names(&[
            ".etcdserverpb.RangeRequest",
            ".etcdserverpb.RangeRequest.SortOrder",
            ".etcdserverpb.Maintenance.Status",
            ".google.rpc.Status",
            ".google.protobuf.Any",
        ]);
        assert_eq!(
            names.get(".etcdserverpb.RangeRequest").unwrap(),
            "etcdserverpbRangeRequest"
        );
        assert_eq!(
            names.get(".etcdserverpb.RangeRequest.SortOrder").unwrap(),
            "RangeRequestSortOrder"
        );
        assert_eq!(names.get(".google.rpc.Status").unwrap(), "googleRpcStatus");
        assert_eq!(names.get(".google.protobuf.Any").unwrap(), "protobufAny");
    }

    #[test]
    fn without_collision_the_package_is_enough() {
        let names = names(&[".google.rpc.Status", ".v3lockpb.LockRequest"]);
        assert_eq!(names.get(".google.rpc.Status").unwrap(), "rpcStatus");
    }
}
