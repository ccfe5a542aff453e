//! etcd 3.5's auth on the embedded store (etcd's `server/auth`): users, roles and key
//! permissions persisted in the store, simple or JWT tokens, and the checks every service
//! makes.
//!
//! - [`state`]: users, roles, enabled, revision, and the rules of every change;
//! - [`permissions`]: a user's permissions merged over its roles, and the range checks;
//! - [`password`]: bcrypt hashes;
//! - [`token`]: simple tokens and JWTs;
//! - [`store`]: the [`AuthStore`]: durable changes, `Authenticate`, the [`Caller`] of a
//!   request (from its `token` or `authorization` metadata) and the permission checks
//!   (`is_range_permitted`, `is_put_permitted`, `is_delete_range_permitted`,
//!   `is_admin_permitted`);
//! - [`checks`]: the checks of whole KV and Lease requests;
//! - [`service`]: [`AuthService`], the tonic `Auth` service;
//! - [`options`]: [`AuthArgs`], the flags (`--auth-token`, `--auth-token-ttl`,
//!   `--bcrypt-cost`), and [`AuthOptions`].

pub mod checks;
pub mod options;
pub mod password;
pub mod permissions;
pub mod service;
pub mod state;
pub mod store;
pub mod token;

pub use options::{AuthArgs, AuthOptions, TokenOptions};
pub use service::AuthService;
pub use store::{AuthStore, Caller};
