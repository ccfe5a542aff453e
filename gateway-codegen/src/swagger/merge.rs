//! One swagger document of every service: the per-file documents merged.

use serde_json::Value;

/// All `documents` in one, titled `title`: the first document's header, then every path,
/// definition, tag and security definition (the first of each name wins).
pub fn merge(documents: &[Value], title: &str) -> Value {
    let Some((first, rest)) = documents.split_first() else {
        return Value::Null;
    };
    let mut merged = first.clone();
    merged["info"]["title"] = title.into();
    for document in rest {
        for key in ["paths", "definitions", "securityDefinitions"] {
            let entries = document.get(key).and_then(Value::as_object);
            if let (Some(entries), Some(target)) = (entries, merged[key].as_object_mut()) {
                for (name, value) in entries {
                    target.entry(name.clone()).or_insert_with(|| value.clone());
                }
            }
        }
        if let (Some(tags), Some(more)) = (merged["tags"].as_array(), document["tags"].as_array()) {
            let mut tags = tags.clone();
            let new: Vec<Value> = more
                .iter()
                .filter(|tag| !tags.iter().any(|known| known["name"] == tag["name"]))
                .cloned()
                .collect();
            tags.extend(new);
            merged["tags"] = tags.into();
        }
    }
    merged
}
