//! Masking of run-specific values and structural comparison of JSON bodies.
//!
//! Two fresh etcd servers never agree on cluster/member IDs, raft terms, lease IDs chosen by
//! the server, auth tokens, ports, database sizes or hashes. [`Masker`] replaces them with
//! placeholders. IDs and tokens are mapped *consistently per side*: the first distinct ID seen
//! becomes `<id1>`, the next `<id2>`, and so on, so a test still checks that the same lease or
//! member shows up where it should (a revoke answers for the lease that was granted, the lock
//! key embeds the lease of the session, ...).

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};

/// Keys whose value is a member or lease ID (a decimal string).
const ID_KEYS: &[&str] = &["ID", "lease", "leader", "member_id", "memberID", "targetID"];

#[derive(Default)]
pub struct Masker {
    ids: HashMap<String, String>,
    allocated_ids: usize,
    tokens: HashMap<String, String>,
    ports: Vec<(String, String)>,
}

impl Masker {
    pub fn new() -> Masker {
        Masker::default()
    }

    /// Replaces `127.0.0.1:<port>` in every string by `127.0.0.1:<name>`.
    pub fn port(&mut self, port: u16, name: &str) {
        self.ports
            .push((format!("127.0.0.1:{port}"), format!("127.0.0.1:<{name}>")));
    }

    /// Gives a known ID a fixed placeholder (e.g. the member's own ID).
    pub fn seed_id(&mut self, id: &str, placeholder: &str) {
        self.ids.insert(id.to_owned(), placeholder.to_owned());
    }

    /// The placeholder of an ID, allocating the next one when it is new.
    pub fn id(&mut self, id: &str) -> String {
        if let Some(placeholder) = self.ids.get(id) {
            return placeholder.clone();
        }
        self.allocated_ids += 1;
        let placeholder = format!("<id{}>", self.allocated_ids);
        self.ids.insert(id.to_owned(), placeholder.clone());
        placeholder
    }

    pub fn token(&mut self, token: &str) -> String {
        let next = self.tokens.len() + 1;
        self.tokens
            .entry(token.to_owned())
            .or_insert_with(|| format!("<token{next}>"))
            .clone()
    }

    /// A masked copy of `value`.
    pub fn mask(&mut self, value: &Value) -> Value {
        let mut v = value.clone();
        self.mask_ports(&mut v);
        sort_members(&mut v);
        self.walk(&mut v);
        v
    }

    fn mask_ports(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                for (from, to) in &self.ports {
                    if s.contains(from.as_str()) {
                        *s = s.replace(from.as_str(), to);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.mask_ports(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.mask_ports(i)),
            _ => {}
        }
    }

    fn walk(&mut self, v: &mut Value) {
        match v {
            Value::Array(items) => items.iter_mut().for_each(|i| self.walk(i)),
            Value::Object(map) => self.walk_object(map),
            _ => {}
        }
    }

    fn walk_object(&mut self, map: &mut Map<String, Value>) {
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            let slot = map.get_mut(&key).expect("key present");
            match (key.as_str(), &*slot) {
                ("cluster_id", Value::String(_)) => *slot = "<cluster_id>".into(),
                ("raft_term" | "raftTerm", Value::String(_)) => *slot = "<raft_term>".into(),
                ("dbSize" | "dbSizeInUse" | "dbSizeQuota", Value::String(_)) => {
                    *slot = "<db_size>".into()
                }
                ("hash", Value::Number(_)) => *slot = "<hash>".into(),
                ("token", Value::String(t)) => *slot = self.token(&t.clone()).into(),
                (k, Value::String(id)) if ID_KEYS.contains(&k) && is_random_id(id) => {
                    *slot = self.id(&id.clone()).into()
                }
                ("key", Value::String(k)) => {
                    if let Some(masked) = self.mask_key(&k.clone()) {
                        *slot = masked.into();
                    }
                }
                ("errors", Value::Array(_)) => {
                    if let Value::Array(items) = slot {
                        for item in items {
                            if let Value::String(s) = item {
                                *s = self.mask_member_ids_in_text(s);
                            }
                        }
                    }
                }
                _ => self.walk(slot),
            }
        }
    }

    /// Election and lock keys are `<name>/<lease ID in hex>`; the hex part is masked like the
    /// lease ID itself. Short suffixes (explicit small lease IDs) are left alone.
    fn mask_key(&mut self, b64: &str) -> Option<String> {
        let raw = B64.decode(b64).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (prefix, hex) = text.rsplit_once('/')?;
        if !(8..=16).contains(&hex.len()) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let id = u64::from_str_radix(hex, 16).ok()?;
        if id <= u64::from(u32::MAX) {
            return None;
        }
        let placeholder = self.id(&id.to_string());
        Some(format!("<key {prefix}/{placeholder}>"))
    }

    /// `memberID:1234 alarm:NOSPACE ` → `memberID:<member g1> alarm:NOSPACE `.
    fn mask_member_ids_in_text(&mut self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(pos) = rest.find("memberID:") {
            let (head, tail) = rest.split_at(pos + "memberID:".len());
            out.push_str(head);
            let digits: String = tail.chars().take_while(|c| c.is_ascii_digit()).collect();
            if !is_random_id(&digits) {
                rest = tail;
                continue;
            }
            out.push_str(&self.id(&digits));
            rest = &tail[digits.len()..];
        }
        out.push_str(rest);
        out
    }
}

/// Member IDs and server-chosen lease IDs are random 64-bit numbers. Small IDs are the ones a
/// scenario chose itself (`{"ID":1000}`); they are compared as they are.
fn is_random_id(s: &str) -> bool {
    s.parse::<u64>().is_ok_and(|n| n > u64::from(u32::MAX))
}

/// etcd lists members ordered by their (random) ID. Orders them by their content without the
/// ID instead, so both sides list them alike.
fn sort_members(v: &mut Value) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(sort_members),
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if let ("members", Value::Array(members)) = (k.as_str(), &mut *child) {
                    members.sort_by_cached_key(|m| {
                        let mut m = m.clone();
                        if let Value::Object(o) = &mut m {
                            o.remove("ID");
                        }
                        m.to_string()
                    });
                }
                sort_members(child);
            }
        }
        _ => {}
    }
}

/// The first difference between `a` and `b`, as a JSON-pointer path and both values.
/// A remaining lease `TTL` may differ by one second (the two requests run a moment apart).
pub fn diff(a: &Value, b: &Value) -> Option<String> {
    diff_at(a, b, "")
}

fn diff_at(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            for (k, va) in ma {
                let p = format!("{path}/{k}");
                match mb.get(k) {
                    Some(vb) => {
                        if let Some(d) = diff_key(k, va, vb, &p) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{p}: {va} vs <absent>")),
                }
            }
            for (k, vb) in mb {
                if !ma.contains_key(k) {
                    return Some(format!("{path}/{k}: <absent> vs {vb}"));
                }
            }
            None
        }
        (Value::Array(xa), Value::Array(xb)) => {
            if xa.len() != xb.len() {
                return Some(format!(
                    "{path}: array of {} vs array of {}: {a} vs {b}",
                    xa.len(),
                    xb.len()
                ));
            }
            xa.iter()
                .zip(xb)
                .enumerate()
                .find_map(|(i, (x, y))| diff_at(x, y, &format!("{path}/{i}")))
        }
        _ if a == b => None,
        _ => Some(format!(
            "{}: {a} vs {b}",
            if path.is_empty() { "/" } else { path }
        )),
    }
}

fn diff_key(key: &str, a: &Value, b: &Value, path: &str) -> Option<String> {
    if key == "TTL"
        && let (Some(x), Some(y)) = (as_i64(a), as_i64(b))
        && (x - y).abs() <= 1
    {
        return None;
    }
    diff_at(a, b, path)
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// The masked etcd header of a KV-style response at `revision`.
pub fn header(revision: u64) -> Value {
    serde_json::json!({
        "cluster_id": "<cluster_id>",
        "member_id": "<member g1>",
        "revision": revision.to_string(),
        "raft_term": "<raft_term>",
    })
}

/// etcd 3.5's (and our) unary error body.
pub fn error_body(code: u32, message: &str) -> Value {
    serde_json::json!({ "error": message, "code": code, "message": message })
}
