//! The auth flags of the embedded store, with etcd's names and syntax: `--auth-token`
//! (`simple`, or `jwt,pub-key=…,priv-key=…,sign-method=…,ttl=…`), `--auth-token-ttl` and
//! `--bcrypt-cost`.

use std::collections::HashMap;
use std::time::Duration;

use super::password::DEFAULT_COST;
use super::store::DEFAULT_TOKEN_TTL;

/// The auth flags (flattened into the command line).
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// Embedded store: token type, `simple` or
    /// `jwt,pub-key=FILE,priv-key=FILE,sign-method=RS256|ES256|HS256|…,ttl=5m` (etcd's
    /// --auth-token).
    #[arg(long, env = "ETCD_GATEWAY_AUTH_TOKEN", default_value = "simple")]
    pub auth_token: String,

    /// Embedded store: seconds a simple token lives after its last use.
    #[arg(long, env = "ETCD_GATEWAY_AUTH_TOKEN_TTL", default_value_t = DEFAULT_TOKEN_TTL.as_secs())]
    pub auth_token_ttl: u64,

    /// Embedded store: bcrypt cost of password hashes (4 to 31).
    #[arg(long, env = "ETCD_GATEWAY_BCRYPT_COST", default_value_t = DEFAULT_COST)]
    pub bcrypt_cost: u32,
}

impl AuthArgs {
    /// The options these flags describe, or why they are wrong.
    pub fn options(&self) -> Result<AuthOptions, String> {
        Ok(AuthOptions {
            token: TokenOptions::parse(&self.auth_token)?,
            token_ttl: Duration::from_secs(self.auth_token_ttl),
            bcrypt_cost: self.bcrypt_cost,
        })
    }
}

/// The token provider chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenOptions {
    /// Simple tokens.
    Simple,
    /// JWTs, with the options after `jwt,`.
    Jwt(HashMap<String, String>),
}

impl TokenOptions {
    /// Parses `--auth-token` as etcd's `decomposeOpts` does: a type, then `name=value`
    /// options, each at most once.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.split(',');
        let kind = parts.next().unwrap_or_default();
        let mut options = HashMap::new();
        for option in parts {
            let Some((name, value)) = option.split_once('=') else {
                return Err(format!(
                    "auth: invalid auth options: {option:?} in --auth-token is not name=value"
                ));
            };
            if value.contains('=') || options.insert(name.to_owned(), value.to_owned()).is_some() {
                return Err(format!(
                    "auth: invalid auth options: {option:?} in --auth-token"
                ));
            }
        }
        match kind {
            "simple" => Ok(Self::Simple),
            "jwt" => Ok(Self::Jwt(options)),
            other => Err(format!(
                "auth: invalid auth options: unknown token type {other:?} (simple or jwt)"
            )),
        }
    }
}

/// How the auth store hands out tokens and hashes passwords.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthOptions {
    /// The token provider.
    pub token: TokenOptions,
    /// How long a simple token lives after its last use.
    pub token_ttl: Duration,
    /// The bcrypt cost.
    pub bcrypt_cost: u32,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            token: TokenOptions::Simple,
            token_ttl: DEFAULT_TOKEN_TTL,
            bcrypt_cost: DEFAULT_COST,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_options_as_etcd_parses_them() {
        assert_eq!(TokenOptions::parse("simple").unwrap(), TokenOptions::Simple);
        let TokenOptions::Jwt(options) =
            TokenOptions::parse("jwt,pub-key=a.pem,priv-key=b.pem,sign-method=RS256").unwrap()
        else {
            panic!("not jwt");
        };
        assert_eq!(options["sign-method"], "RS256");
        assert!(TokenOptions::parse("jwt,sign-method").is_err());
        assert!(TokenOptions::parse("jwt,ttl=1m,ttl=2m").is_err());
        assert!(TokenOptions::parse("oauth").is_err());
    }
}
