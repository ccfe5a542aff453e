//! Auth tokens, as etcd's token providers: [`simple`] tokens (random, kept in memory, lost on
//! restart) or signed [`jwt`]s (valid until they expire, across restarts).

pub mod jwt;
pub mod simple;

use crate::embedded::errors::EtcdError;

/// Who a valid token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// The user name.
    pub username: String,
    /// The auth revision the token carries (JWT); `None` for simple tokens, which stand for
    /// the current revision.
    pub revision: Option<u64>,
}

/// The configured token provider (`--auth-token`).
#[derive(Debug)]
pub enum TokenProvider {
    /// etcd's `simple` tokens.
    Simple(simple::SimpleTokens),
    /// etcd's `jwt` tokens.
    Jwt(jwt::JwtTokens),
}

impl TokenProvider {
    /// Who `token` names, if it is valid.
    pub fn info(&self, token: &str) -> Option<TokenInfo> {
        match self {
            Self::Simple(tokens) => tokens.info(token).map(|username| TokenInfo {
                username,
                revision: None,
            }),
            Self::Jwt(tokens) => tokens.info(token),
        }
    }

    /// A new token for `username` at auth revision `revision`; `index` numbers simple tokens.
    pub fn assign(&self, username: &str, revision: u64, index: u64) -> Result<String, EtcdError> {
        match self {
            Self::Simple(tokens) => tokens.assign(username, index),
            Self::Jwt(tokens) => tokens.assign(username, revision),
        }
    }

    /// Auth was enabled.
    pub fn enable(&self) {
        if let Self::Simple(tokens) = self {
            tokens.enable();
        }
    }

    /// Auth was disabled: simple tokens are dropped.
    pub fn disable(&self) {
        if let Self::Simple(tokens) = self {
            tokens.disable();
        }
    }

    /// The user was deleted or changed its password: its simple tokens are dropped.
    pub fn invalidate_user(&self, username: &str) {
        if let Self::Simple(tokens) = self {
            tokens.invalidate_user(username);
        }
    }
}
