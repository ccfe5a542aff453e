//! Swagger (OpenAPI 2.0) documents, one per proto file with services (being written).

use std::collections::BTreeMap;

use anyhow::Result;

use crate::{load::Descriptors, model::Service};

/// `file name → JSON` for every proto file of `api` that declares services.
pub fn emit(_descriptors: &Descriptors, _api: &[Service]) -> Result<BTreeMap<String, String>> {
    Ok(BTreeMap::new())
}
