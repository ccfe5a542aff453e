//! etcd's JWT tokens (`jwt.go`, `options.go`): signed with `sign-method` and the key files
//! of `--auth-token jwt,pub-key=…,priv-key=…,sign-method=…,ttl=…`, carrying the claims
//! `username`, `revision` (the auth revision at authentication) and `exp`. Nothing is kept
//! in memory: a token stays valid, across restarts too, until it expires.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use super::TokenInfo;
use crate::embedded::errors::EtcdError;

/// etcd's default JWT lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);

/// The JWT provider.
pub struct JwtTokens {
    algorithm: Algorithm,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    ttl: Duration,
}

impl std::fmt::Debug for JwtTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtTokens")
            .field("algorithm", &self.algorithm)
            .field("verify_only", &self.encoding.is_none())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwtTokens {
    /// The provider described by the options after `jwt,` (`sign-method` required; `pub-key`
    /// and `priv-key` are PEM files, or for HMAC methods `priv-key` is the secret; `ttl` a
    /// duration like `5m`).
    pub fn from_options(options: &HashMap<String, String>) -> Result<Self, String> {
        let method = options.get("sign-method").map(String::as_str).unwrap_or("");
        let algorithm = Algorithm::from_str(method).map_err(|_| {
            format!("auth: invalid auth signature method {method:?} (e.g. RS256, ES256, HS256)")
        })?;
        let ttl = match options.get("ttl") {
            Some(ttl) if !ttl.is_empty() => parse_go_duration(ttl)?,
            _ => DEFAULT_TTL,
        };
        let read = |name: &str| -> Result<Option<Vec<u8>>, String> {
            match options.get(name).filter(|file| !file.is_empty()) {
                Some(file) => std::fs::read(Path::new(file))
                    .map(Some)
                    .map_err(|err| format!("cannot read the JWT {name} file {file}: {err}")),
                None => Ok(None),
            }
        };
        let private = read("priv-key")?;
        let public = read("pub-key")?;
        let invalid = |err: jsonwebtoken::errors::Error| format!("invalid JWT key: {err}");
        let (encoding, decoding) = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let secret = private.ok_or("auth: missing key data (priv-key)")?;
                (
                    Some(EncodingKey::from_secret(&secret)),
                    DecodingKey::from_secret(&secret),
                )
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                let public = public.ok_or(
                    "auth: missing key data: pub-key is needed to verify ES tokens".to_owned(),
                )?;
                let encoding = private
                    .map(|pem| EncodingKey::from_ec_pem(&pem).map_err(invalid))
                    .transpose()?;
                (
                    encoding,
                    DecodingKey::from_ec_pem(&public).map_err(invalid)?,
                )
            }
            Algorithm::EdDSA => {
                let public = public.ok_or(
                    "auth: missing key data: pub-key is needed to verify EdDSA tokens".to_owned(),
                )?;
                let encoding = private
                    .map(|pem| EncodingKey::from_ed_pem(&pem).map_err(invalid))
                    .transpose()?;
                (
                    encoding,
                    DecodingKey::from_ed_pem(&public).map_err(invalid)?,
                )
            }
            _ => {
                let public = public.ok_or(
                    "auth: missing key data: pub-key is needed to verify RS/PS tokens".to_owned(),
                )?;
                let encoding = private
                    .map(|pem| EncodingKey::from_rsa_pem(&pem).map_err(invalid))
                    .transpose()?;
                (
                    encoding,
                    DecodingKey::from_rsa_pem(&public).map_err(invalid)?,
                )
            }
        };
        Ok(Self {
            algorithm,
            encoding,
            decoding,
            ttl,
        })
    }

    /// The user and auth revision of `token` if its signature and method are right and it
    /// has not expired.
    pub fn info(&self, token: &str) -> Option<TokenInfo> {
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 0;
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &self.decoding, &validation).ok()?;
        let username = data.claims.get("username")?.as_str()?.to_owned();
        let revision = data.claims.get("revision")?.as_f64()? as u64;
        Some(TokenInfo {
            username,
            revision: Some(revision),
        })
    }

    /// A token for `username` at auth revision `revision`, expiring after the TTL.
    pub fn assign(&self, username: &str, revision: u64) -> Result<String, EtcdError> {
        let key = self.encoding.as_ref().ok_or(EtcdError::JwtVerifyOnly)?;
        let expires = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(self.ttl)
            .as_secs();
        let mut claims = Map::new();
        claims.insert("username".into(), Value::from(username));
        claims.insert("revision".into(), Value::from(revision));
        claims.insert("exp".into(), Value::from(expires));
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, key)
            .map_err(|err| EtcdError::storage(format!("cannot sign a JWT: {err}")))
    }
}

/// Parses a Go duration such as `5m`, `300s`, `1h30m`, `1500ms`.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?} (e.g. 5m, 300s, 1h30m)");
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(digits);
        let number: f64 = number.parse().map_err(|_| invalid())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let seconds = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(invalid()),
        };
        total += Duration::from_secs_f64(number * seconds);
        rest = tail;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(
            parse_go_duration("1h30m").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn hmac_tokens_round_trip_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"a secret").unwrap();
        let options: HashMap<String, String> = [
            ("sign-method", "HS256"),
            ("priv-key", secret.to_str().unwrap()),
            ("ttl", "1h"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        let tokens = JwtTokens::from_options(&options).unwrap();
        let token = tokens.assign("root", 7).unwrap();
        assert_eq!(
            tokens.info(&token),
            Some(TokenInfo {
                username: "root".into(),
                revision: Some(7)
            })
        );
        assert_eq!(tokens.info(&format!("{token}x")), None);
        let mut expired = options.clone();
        expired.insert("ttl".into(), "0s".into());
        let short = JwtTokens::from_options(&expired).unwrap();
        let token = short.assign("root", 7).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(short.info(&token), None);
    }
}
