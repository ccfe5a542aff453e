//! etcd's simple tokens (`simple_token.go`): 16 random letters, `.`, and an index; kept in
//! memory only, each valid for the TTL after its last use (`--auth-token-ttl`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_rustls::rustls::crypto::ring;

use crate::embedded::errors::EtcdError;

/// The letters a token's random part is drawn from.
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// The length of a token's random part.
const PREFIX_LEN: usize = 16;
/// At most this many live tokens are kept; the ones expiring first make room.
pub const MAX_TOKENS: usize = 100_000;

/// A live token.
#[derive(Debug)]
struct Assigned {
    username: String,
    expires: Instant,
}

#[derive(Debug, Default)]
struct Tokens {
    enabled: bool,
    assigned: HashMap<String, Assigned>,
}

/// The simple token provider.
#[derive(Debug)]
pub struct SimpleTokens {
    ttl: Duration,
    tokens: Mutex<Tokens>,
}

impl SimpleTokens {
    /// A provider whose tokens live `ttl` after their last use.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            tokens: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tokens> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The user of `token` if it is live; its TTL starts again.
    pub fn info(&self, token: &str) -> Option<String> {
        let (prefix, index) = token.split_once('.')?;
        if prefix.contains('.') || index.contains('.') || index.parse::<u64>().is_err() {
            return None;
        }
        let mut tokens = self.lock();
        let now = Instant::now();
        let assigned = tokens.assigned.get_mut(token)?;
        if assigned.expires <= now {
            tokens.assigned.remove(token);
            return None;
        }
        assigned.expires = now + self.ttl;
        Some(assigned.username.clone())
    }

    /// A new token for `username` numbered `index`; while auth is disabled it is handed out
    /// but not kept (as etcd).
    pub fn assign(&self, username: &str, index: u64) -> Result<String, EtcdError> {
        let token = format!("{}.{index}", random_prefix()?);
        let mut tokens = self.lock();
        if !tokens.enabled {
            return Ok(token);
        }
        let now = Instant::now();
        tokens.assigned.retain(|_, assigned| assigned.expires > now);
        if tokens.assigned.len() >= MAX_TOKENS
            && let Some(oldest) = tokens
                .assigned
                .iter()
                .min_by_key(|(_, assigned)| assigned.expires)
                .map(|(token, _)| token.clone())
        {
            tokens.assigned.remove(&oldest);
        }
        tokens.assigned.insert(
            token.clone(),
            Assigned {
                username: username.to_owned(),
                expires: now + self.ttl,
            },
        );
        Ok(token)
    }

    /// Starts keeping tokens.
    pub fn enable(&self) {
        self.lock().enabled = true;
    }

    /// Drops every token and stops keeping new ones.
    pub fn disable(&self) {
        let mut tokens = self.lock();
        tokens.enabled = false;
        tokens.assigned.clear();
    }

    /// Drops the tokens of `username`.
    pub fn invalidate_user(&self, username: &str) {
        self.lock()
            .assigned
            .retain(|_, assigned| assigned.username != username);
    }
}

/// 16 letters drawn from a cryptographic random source.
fn random_prefix() -> Result<String, EtcdError> {
    let mut bytes = [0u8; PREFIX_LEN];
    ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| EtcdError::storage("no random numbers for a token"))?;
    // 256 is not a multiple of 52: redraw the bytes that would bias the choice.
    let limit = (256 / LETTERS.len() * LETTERS.len()) as u8;
    let mut prefix = String::with_capacity(PREFIX_LEN);
    for mut byte in bytes {
        while byte >= limit {
            let mut again = [0u8; 1];
            ring::default_provider()
                .secure_random
                .fill(&mut again)
                .map_err(|_| EtcdError::storage("no random numbers for a token"))?;
            byte = again[0];
        }
        prefix.push(LETTERS[usize::from(byte) % LETTERS.len()] as char);
    }
    Ok(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_shaped_like_etcds_and_renewed_on_use() {
        let tokens = SimpleTokens::new(Duration::from_millis(200));
        tokens.enable();
        let token = tokens.assign("root", 9).unwrap();
        let (prefix, index) = token.split_once('.').unwrap();
        assert_eq!(prefix.len(), 16);
        assert!(prefix.bytes().all(|byte| byte.is_ascii_alphabetic()));
        assert_eq!(index, "9");
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(100));
            assert_eq!(tokens.info(&token).as_deref(), Some("root"));
        }
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(tokens.info(&token), None);
    }

    #[test]
    fn disable_and_invalidate_drop_tokens() {
        let tokens = SimpleTokens::new(Duration::from_secs(60));
        tokens.enable();
        let root = tokens.assign("root", 1).unwrap();
        let user = tokens.assign("user", 2).unwrap();
        tokens.invalidate_user("user");
        assert_eq!(tokens.info(&user), None);
        assert_eq!(tokens.info(&root).as_deref(), Some("root"));
        tokens.disable();
        assert_eq!(tokens.info(&root), None);
        assert_eq!(tokens.info("malformed"), None);
    }
}
