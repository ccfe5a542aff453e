//! Authentication for the `range-auth` and `put-auth` scenarios, set up through the JSON
//! gateway as etcd's documentation does it: user `root` with role `root`, user `bench` with a
//! role that may read and write the bench keys, authentication enabled, then `bench`'s token.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use serde_json::{Value, json};

use super::http;
use super::scenario::{PUT_PREFIX, SEED_KEY};

/// Password of `root`.
const ROOT_PASSWORD: &str = "bench-root";
/// The user the load runs as, and its password.
const USER: &str = "bench";
const PASSWORD: &str = "bench-password";
/// The role granting `bench` READWRITE on the seeded key and on the put keys.
const ROLE: &str = "bench-rw";

/// Sets up users, roles and permissions on the server at `addr` (its key [`SEED_KEY`]
/// already written), enables authentication and returns the token of user `bench`.
pub async fn enable(addr: SocketAddr) -> Result<String> {
    let put_end = prefix_end(PUT_PREFIX);
    let steps = [
        (
            "/v3/auth/user/add",
            json!({"name": "root", "password": ROOT_PASSWORD}),
        ),
        ("/v3/auth/role/add", json!({"name": "root"})),
        (
            "/v3/auth/user/grant",
            json!({"user": "root", "role": "root"}),
        ),
        (
            "/v3/auth/user/add",
            json!({"name": USER, "password": PASSWORD}),
        ),
        ("/v3/auth/role/add", json!({"name": ROLE})),
        (
            "/v3/auth/role/grant",
            json!({"name": ROLE, "perm": {
                "permType": "READWRITE",
                "key": BASE64.encode(SEED_KEY),
            }}),
        ),
        (
            "/v3/auth/role/grant",
            json!({"name": ROLE, "perm": {
                "permType": "READWRITE",
                "key": BASE64.encode(PUT_PREFIX),
                "range_end": BASE64.encode(put_end),
            }}),
        ),
        ("/v3/auth/user/grant", json!({"user": USER, "role": ROLE})),
        ("/v3/auth/enable", json!({})),
    ];
    for (path, body) in steps {
        call(addr, path, body).await?;
    }
    let answer = call(
        addr,
        "/v3/auth/authenticate",
        json!({"name": USER, "password": PASSWORD}),
    )
    .await?;
    answer["token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no token in the answer to authenticate: {answer}"))
}

/// POSTs `body` to `path`; fails unless the answer is a 200.
async fn call(addr: SocketAddr, path: &str, body: Value) -> Result<Value> {
    let (status, answer) = http::post(addr, path, body.to_string(), None)
        .await
        .with_context(|| format!("{path} failed"))?;
    let text = String::from_utf8_lossy(&answer);
    anyhow::ensure!(
        status.is_success(),
        "{path} {body} answered {status}: {}",
        text.trim()
    );
    serde_json::from_slice(&answer).with_context(|| format!("{path} answered {text:?}"))
}

/// The end of the range of keys starting with `prefix` (etcd's `GetPrefixRangeEnd`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_ends_as_etcd_computes_them() {
        assert_eq!(prefix_end(b"bench/put/"), b"bench/put0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), [0]);
    }
}
