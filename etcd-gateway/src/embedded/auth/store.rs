//! The [`AuthStore`]: the auth state shared by every service, its durable changes, the
//! tokens, and the permission checks other services call (etcd's `authStore`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tonic::metadata::MetadataMap;

use super::options::{AuthOptions, TokenOptions};
use super::password;
use super::permissions::Access;
use super::state::{AuthState, Draft};
use super::token::TokenProvider;
use super::token::jwt::JwtTokens;
use super::token::simple::SimpleTokens;
use crate::embedded::errors::EtcdError;
use crate::embedded::mvcc::Store;

/// The gRPC metadata etcd's clients put their token in.
pub const TOKEN_METADATA: &str = "token";
/// The metadata etcd's JSON gateway puts the `Authorization` header in.
pub const AUTHORIZATION_METADATA: &str = "authorization";

/// How many times `Authenticate` checks a password again when the auth store changed
/// meanwhile.
const AUTHENTICATE_ATTEMPTS: usize = 5;

/// Who makes a request, as etcd's `AuthInfo`: a user name and the auth revision its token
/// stands for. The default (no token) is nobody: it passes every check while auth is
/// disabled and fails them with `user name is empty` while it is enabled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// The user name ("" for nobody).
    pub username: String,
    /// The auth revision (0 for nobody).
    pub revision: u64,
}

/// The auth store of an embedded backend.
#[derive(Debug)]
pub struct AuthStore {
    store: Arc<Store>,
    state: RwLock<Arc<AuthState>>,
    changes: tokio::sync::Mutex<()>,
    tokens: TokenProvider,
    bcrypt_cost: u32,
    token_index: AtomicU64,
}

impl AuthStore {
    /// The auth store recorded in `store`, with the token provider and bcrypt cost of
    /// `options`.
    pub fn open(store: Arc<Store>, options: &AuthOptions) -> Result<Self, String> {
        let records = store.auth_records().map_err(|err| err.to_string())?;
        let state = AuthState::load(&records).map_err(|err| err.to_string())?;
        let tokens = match &options.token {
            TokenOptions::Simple => TokenProvider::Simple(SimpleTokens::new(options.token_ttl)),
            TokenOptions::Jwt(jwt) => TokenProvider::Jwt(JwtTokens::from_options(jwt)?),
        };
        if state.enabled {
            tokens.enable();
        }
        let token_index = AtomicU64::new(store.current_revision().max(1) as u64);
        Ok(Self {
            store,
            state: RwLock::new(Arc::new(state)),
            changes: tokio::sync::Mutex::new(()),
            tokens,
            bcrypt_cost: password::effective_cost(options.bcrypt_cost),
            token_index,
        })
    }

    /// The store the auth state is kept in.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The current state.
    pub fn state(&self) -> Arc<AuthState> {
        Arc::clone(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether auth is enabled.
    pub fn is_enabled(&self) -> bool {
        self.state().enabled
    }

    /// The auth revision.
    pub fn revision(&self) -> u64 {
        self.state().revision
    }

    /// The bcrypt cost passwords are hashed with.
    pub fn bcrypt_cost(&self) -> u32 {
        self.bcrypt_cost
    }

    /// Who sends a request with `metadata` (etcd's `AuthInfoFromCtx`): the token in `token`
    /// (etcdctl) or else `authorization` (the JSON gateway; a `Bearer ` prefix is dropped).
    /// No token: [`Caller::default`]. A token that is not valid, whether or not auth is
    /// enabled: `etcdserver: invalid auth token`.
    pub fn caller(&self, metadata: &MetadataMap) -> Result<Caller, EtcdError> {
        let Some(value) = metadata
            .get(TOKEN_METADATA)
            .or_else(|| metadata.get(AUTHORIZATION_METADATA))
        else {
            return Ok(Caller::default());
        };
        let token = value.to_str().map_err(|_| EtcdError::InvalidAuthToken)?;
        let token = token.strip_prefix("Bearer ").unwrap_or(token);
        let info = self.tokens.info(token).ok_or(EtcdError::InvalidAuthToken)?;
        Ok(Caller {
            username: info.username,
            revision: info.revision.unwrap_or_else(|| self.revision()),
        })
    }

    fn is_op_permitted(
        &self,
        caller: &Caller,
        access: Access,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), EtcdError> {
        let state = self.state();
        if !state.enabled {
            return Ok(());
        }
        if caller.revision == 0 {
            return Err(EtcdError::UserEmpty);
        }
        if caller.revision < state.revision {
            return Err(EtcdError::AuthOldRevision);
        }
        if !state.users.contains_key(&caller.username) {
            return Err(EtcdError::PermissionDenied);
        }
        if state.has_root_role(&caller.username)
            || state.permits(&caller.username, access, key, range_end)
        {
            return Ok(());
        }
        Err(EtcdError::PermissionDenied)
    }

    /// etcd's `IsRangePermitted`: read access to `key`, or to `[key, range_end)`.
    pub fn is_range_permitted(
        &self,
        caller: &Caller,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), EtcdError> {
        self.is_op_permitted(caller, Access::Read, key, range_end)
    }

    /// etcd's `IsPutPermitted`: write access to `key`.
    pub fn is_put_permitted(&self, caller: &Caller, key: &[u8]) -> Result<(), EtcdError> {
        self.is_op_permitted(caller, Access::Write, key, &[])
    }

    /// etcd's `IsDeleteRangePermitted`: write access to `key`, or to `[key, range_end)`.
    pub fn is_delete_range_permitted(
        &self,
        caller: &Caller,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), EtcdError> {
        self.is_op_permitted(caller, Access::Write, key, range_end)
    }

    /// etcd's `IsAdminPermitted`: the caller has the `root` role (anyone while auth is
    /// disabled).
    pub fn is_admin_permitted(&self, caller: &Caller) -> Result<(), EtcdError> {
        let state = self.state();
        if !state.enabled {
            return Ok(());
        }
        check_admin(&state, caller)
    }

    /// The check of etcd's maintenance server before Defragment, Snapshot, Hash and HashKV
    /// (`authMaintenanceServer.isAuthenticated`): the caller of a request with `metadata` has
    /// the `root` role (anyone while auth is disabled). etcd returns the auth package's own
    /// errors there, unconverted, so they reach clients with code Unknown and `auth: ...`
    /// messages (e.g. `auth: permission denied`, HTTP 500 through the gateway).
    pub fn check_maintenance_admin(&self, metadata: &MetadataMap) -> Result<(), tonic::Status> {
        self.caller(metadata)
            .and_then(|caller| self.is_admin_permitted(&caller))
            .map_err(|err| match auth_package_message(&err) {
                Some(message) => tonic::Status::unknown(message),
                None => err.into(),
            })
    }

    /// The check etcd does after a read (`doSerialize`): the auth store must not have changed
    /// since the caller's token was read.
    pub fn check_unchanged(&self, caller: &Caller) -> Result<(), EtcdError> {
        if caller.revision != 0 && caller.revision != self.revision() {
            return Err(EtcdError::AuthOldRevision);
        }
        Ok(())
    }

    /// Applies one change durably, then publishes it; with `admin`, the caller must pass
    /// [`AuthStore::is_admin_permitted`] on the state the change applies to. Returns what
    /// `change` returns and the store revision for the response header.
    pub async fn change<R>(
        &self,
        caller: &Caller,
        admin: bool,
        change: impl FnOnce(&mut Draft) -> Result<R, EtcdError>,
    ) -> Result<(R, i64), EtcdError> {
        let _serialized = self.changes.lock().await;
        let current = self.state();
        if admin && current.enabled {
            check_admin(&current, caller)?;
        }
        let mut draft = Draft::new(&current);
        let outcome = change(&mut draft)?;
        let (next, rows) = draft.finish();
        if rows.is_empty() {
            return Ok((outcome, self.store.current_revision()));
        }
        let revision = self.store.auth_update(rows).await?;
        let (was_enabled, enabled) = (current.enabled, next.enabled);
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        match (was_enabled, enabled) {
            (false, true) => self.tokens.enable(),
            (true, false) => self.tokens.disable(),
            _ => {}
        }
        Ok((outcome, revision))
    }

    /// Drops the simple tokens of `username` (after its deletion or a password change).
    pub fn invalidate_user(&self, username: &str) {
        self.tokens.invalidate_user(username);
    }

    /// etcd's `Authenticate`: checks the password (bcrypt, off the async threads) and hands
    /// out a token; checks again if the auth store changed meanwhile.
    pub async fn authenticate(&self, name: &str, password: &str) -> Result<String, EtcdError> {
        for _ in 0..AUTHENTICATE_ATTEMPTS {
            let state = self.state();
            if !state.enabled {
                return Err(EtcdError::AuthNotEnabled);
            }
            let user = state.users.get(name).ok_or(EtcdError::AuthFailed)?;
            if user.options.as_ref().is_some_and(|o| o.no_password) {
                return Err(EtcdError::NoPasswordUser);
            }
            let hash = user.password.clone();
            let given = password.to_owned();
            let matches = tokio::task::spawn_blocking(move || password::matches(&hash, &given))
                .await
                .map_err(EtcdError::storage)?;
            if !matches {
                tracing::info!(user = name, "invalid password");
                return Err(EtcdError::AuthFailed);
            }
            let _serialized = self.changes.lock().await;
            let now = self.state();
            if now.revision != state.revision {
                continue;
            }
            if !now.enabled {
                return Err(EtcdError::AuthNotEnabled);
            }
            let index = self.token_index.fetch_add(1, Ordering::Relaxed) + 1;
            return self.tokens.assign(name, now.revision, index);
        }
        Err(EtcdError::AuthOldRevision)
    }

    /// The bcrypt hash of `password` with the configured cost, off the async threads.
    pub async fn hash_password(&self, password: &str) -> Result<Vec<u8>, EtcdError> {
        let password = password.to_owned();
        let cost = self.bcrypt_cost;
        tokio::task::spawn_blocking(move || password::hash(&password, cost))
            .await
            .map_err(EtcdError::storage)?
    }
}

/// etcd's `IsAdminPermitted` on an enabled state.
fn check_admin(state: &AuthState, caller: &Caller) -> Result<(), EtcdError> {
    if caller.username.is_empty() {
        return Err(EtcdError::UserEmpty);
    }
    if !state.users.contains_key(&caller.username) {
        return Err(EtcdError::UserNotFound);
    }
    if !state.has_root_role(&caller.username) {
        return Err(EtcdError::PermissionDenied);
    }
    Ok(())
}

/// The message etcd 3.5.1's auth package (`server/auth/store.go`) gives `err`, for the errors
/// an admin check can end with.
fn auth_package_message(err: &EtcdError) -> Option<&'static str> {
    Some(match err {
        EtcdError::InvalidAuthToken => "auth: invalid auth token",
        EtcdError::UserEmpty => "auth: user name is empty",
        EtcdError::UserNotFound => "auth: user not found",
        EtcdError::PermissionDenied => "auth: permission denied",
        _ => return None,
    })
}

/// The TTL of simple tokens etcd uses by default (`--auth-token-ttl`).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(300);
