//! Password hashes: bcrypt, in the `$2a$` form etcd's Go bcrypt writes, with etcd's cost
//! rules (`--bcrypt-cost`, default 10; a cost out of bcrypt's range falls back to 10).

use crate::embedded::errors::EtcdError;

/// bcrypt's lowest cost.
pub const MIN_COST: u32 = 4;
/// bcrypt's highest cost.
pub const MAX_COST: u32 = 31;
/// etcd's default `--bcrypt-cost`.
pub const DEFAULT_COST: u32 = 10;

/// The cost used for `requested`: itself if bcrypt accepts it, [`DEFAULT_COST`] otherwise
/// (as etcd's `NewAuthStore`).
pub fn effective_cost(requested: u32) -> u32 {
    if (MIN_COST..=MAX_COST).contains(&requested) {
        requested
    } else {
        tracing::warn!(
            requested,
            default = DEFAULT_COST,
            "bcrypt cost out of range; using the default"
        );
        DEFAULT_COST
    }
}

/// The bcrypt hash of `password` at `cost`, as stored in `authpb.User.password`.
pub fn hash(password: &str, cost: u32) -> Result<Vec<u8>, EtcdError> {
    let parts = bcrypt::hash_with_result(password, cost)
        .map_err(|err| EtcdError::storage(format!("cannot hash a password: {err}")))?;
    Ok(parts.format_for_version(bcrypt::Version::TwoA).into_bytes())
}

/// Whether `password` matches the stored `hash` (a malformed hash matches nothing).
pub fn matches(hash: &[u8], password: &str) -> bool {
    std::str::from_utf8(hash)
        .ok()
        .and_then(|hash| bcrypt::verify(password, hash).ok())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_carry_the_cost_and_verify() {
        let hashed = hash("pass", 4).unwrap();
        assert!(hashed.starts_with(b"$2a$04$"), "{hashed:?}");
        assert!(matches(&hashed, "pass"));
        assert!(!matches(&hashed, "wrong"));
        assert!(!matches(b"", "pass"));
    }

    #[test]
    fn out_of_range_costs_fall_back_to_the_default() {
        assert_eq!(effective_cost(3), DEFAULT_COST);
        assert_eq!(effective_cost(32), DEFAULT_COST);
        assert_eq!(effective_cost(4), 4);
    }
}
