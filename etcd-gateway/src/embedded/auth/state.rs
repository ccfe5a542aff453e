//! The auth store's state (users, roles, enabled, revision) and the rules of every change,
//! as etcd's `server/auth/store.go`: a [`Draft`] applies one change to a copy of the state and
//! records the rows it writes, which the caller commits before publishing the copy.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use prost::Message;

use super::permissions::{Access, MergedPermissions};
use crate::authpb::{Permission, Role, User, UserAddOptions};
use crate::embedded::errors::EtcdError;
use crate::embedded::storage::{AuthChange, AuthRecords};

/// The name of the user and of the role that may do everything.
pub const ROOT: &str = "root";

/// The auth state at one auth revision.
#[derive(Clone, Debug, Default)]
pub struct AuthState {
    /// Whether auth is enabled.
    pub enabled: bool,
    /// The auth revision: 1 on a new store, +1 on every change but enabling.
    pub revision: u64,
    /// The users by name.
    pub users: BTreeMap<String, User>,
    /// The roles by name.
    pub roles: BTreeMap<String, Role>,
    merged: HashMap<String, Arc<MergedPermissions>>,
}

impl AuthState {
    /// The state recorded in storage (a store never changed has auth revision 1, as etcd's
    /// `NewAuthStore` records it).
    pub fn load(records: &AuthRecords) -> Result<Self, EtcdError> {
        let mut state = Self {
            enabled: records.enabled,
            revision: records.revision.max(1),
            ..Self::default()
        };
        for (name, value) in &records.users {
            let user = User::decode(value.as_slice()).map_err(EtcdError::storage)?;
            state.users.insert(name_of(name), user);
        }
        for (name, value) in &records.roles {
            let role = Role::decode(value.as_slice()).map_err(EtcdError::storage)?;
            state.roles.insert(name_of(name), role);
        }
        state.merge_permissions();
        Ok(state)
    }

    /// Recomputes every user's merged permissions (etcd's range permission cache).
    fn merge_permissions(&mut self) {
        self.merged = self
            .users
            .iter()
            .map(|(name, user)| {
                let roles = user.roles.iter().filter_map(|role| self.roles.get(role));
                (name.clone(), Arc::new(MergedPermissions::merge(roles)))
            })
            .collect();
    }

    /// Whether `username` exists and has the `root` role.
    pub fn has_root_role(&self, username: &str) -> bool {
        self.users.get(username).is_some_and(|user| {
            user.roles
                .binary_search_by(|role| role.as_str().cmp(ROOT))
                .is_ok()
        })
    }

    /// Whether `username` exists and has `role`.
    pub fn has_role(&self, username: &str, role: &str) -> bool {
        self.users
            .get(username)
            .is_some_and(|user| user.roles.iter().any(|granted| granted == role))
    }

    /// Whether `username` may access `[key, range_end)` (see [`MergedPermissions::permits`]).
    pub fn permits(&self, username: &str, access: Access, key: &[u8], range_end: &[u8]) -> bool {
        self.merged
            .get(username)
            .is_some_and(|merged| merged.permits(access, key, range_end))
    }
}

fn name_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One change being made to a copy of the state.
#[derive(Debug)]
pub struct Draft {
    state: AuthState,
    changes: Vec<AuthChange>,
}

impl Draft {
    /// A change to (a copy of) `state`.
    pub fn new(state: &AuthState) -> Self {
        Self {
            state: state.clone(),
            changes: Vec::new(),
        }
    }

    /// The state as it is before and during the change.
    pub fn state(&self) -> &AuthState {
        &self.state
    }

    /// The changed state and the rows to write (none: nothing changed).
    pub fn finish(mut self) -> (AuthState, Vec<AuthChange>) {
        if !self.changes.is_empty() {
            self.state.merge_permissions();
        }
        (self.state, self.changes)
    }

    fn put_user(&mut self, user: User) {
        let name = name_of(&user.name);
        self.changes
            .push(AuthChange::PutUser(user.name.clone(), user.encode_to_vec()));
        self.state.users.insert(name, user);
    }

    fn put_role(&mut self, role: Role) {
        let name = name_of(&role.name);
        self.changes
            .push(AuthChange::PutRole(role.name.clone(), role.encode_to_vec()));
        self.state.roles.insert(name, role);
    }

    /// etcd's `commitRevision`.
    fn commit_revision(&mut self) {
        self.state.revision += 1;
        self.changes.push(AuthChange::Revision(self.state.revision));
    }

    fn user(&self, name: &str) -> Result<User, EtcdError> {
        self.state
            .users
            .get(name)
            .cloned()
            .ok_or(EtcdError::UserNotFound)
    }

    fn role(&self, name: &str) -> Result<Role, EtcdError> {
        self.state
            .roles
            .get(name)
            .cloned()
            .ok_or(EtcdError::RoleNotFound)
    }

    /// etcd's `AuthEnable`: needs the `root` user with the `root` role; does not change the
    /// revision.
    pub fn enable(&mut self) -> Result<(), EtcdError> {
        if self.state.enabled {
            return Ok(());
        }
        if !self.state.users.contains_key(ROOT) {
            return Err(EtcdError::RootUserNotExist);
        }
        if !self.state.has_root_role(ROOT) {
            return Err(EtcdError::RootRoleNotExist);
        }
        self.state.enabled = true;
        self.changes.push(AuthChange::Enabled(true));
        Ok(())
    }

    /// etcd's `AuthDisable`.
    pub fn disable(&mut self) {
        if !self.state.enabled {
            return;
        }
        self.state.enabled = false;
        self.changes.push(AuthChange::Enabled(false));
        self.commit_revision();
    }

    /// etcd's `UserAdd`; `password` is the hash to store, or `None` for `no_password`.
    pub fn user_add(
        &mut self,
        name: &str,
        password: Result<Vec<u8>, EtcdError>,
        options: Option<UserAddOptions>,
    ) -> Result<(), EtcdError> {
        if name.is_empty() {
            return Err(EtcdError::UserEmpty);
        }
        if self.state.users.contains_key(name) {
            return Err(EtcdError::UserAlreadyExist);
        }
        let options = options.unwrap_or_default();
        let password = if options.no_password {
            Vec::new()
        } else {
            password.map_err(|_| EtcdError::NoPasswordUser)?
        };
        self.put_user(User {
            name: name.as_bytes().to_vec(),
            password,
            roles: Vec::new(),
            options: Some(options),
        });
        self.commit_revision();
        Ok(())
    }

    /// etcd's `UserDelete`.
    pub fn user_delete(&mut self, name: &str) -> Result<(), EtcdError> {
        if self.state.enabled && name == ROOT {
            return Err(EtcdError::InvalidAuthMgmt);
        }
        self.user(name)?;
        self.state.users.remove(name);
        self.changes
            .push(AuthChange::DeleteUser(name.as_bytes().to_vec()));
        self.commit_revision();
        Ok(())
    }

    /// etcd's `UserChangePassword`; `password` is the new hash (or why there is none).
    pub fn user_change_password(
        &mut self,
        name: &str,
        password: Result<Vec<u8>, EtcdError>,
    ) -> Result<(), EtcdError> {
        let mut user = self.user(name)?;
        let no_password = user.options.as_ref().is_some_and(|o| o.no_password);
        user.password = if no_password {
            Vec::new()
        } else {
            password.map_err(|_| EtcdError::NoPasswordUser)?
        };
        self.put_user(user);
        self.commit_revision();
        Ok(())
    }

    /// etcd's `UserGrantRole`: granting a role the user has changes nothing.
    pub fn user_grant_role(&mut self, name: &str, role: &str) -> Result<(), EtcdError> {
        let mut user = self.user(name)?;
        if role != ROOT {
            self.role(role)?;
        }
        let Err(at) = user
            .roles
            .binary_search_by(|granted| granted.as_str().cmp(role))
        else {
            return Ok(());
        };
        user.roles.insert(at, role.to_owned());
        self.put_user(user);
        self.commit_revision();
        Ok(())
    }

    /// etcd's `UserRevokeRole`.
    pub fn user_revoke_role(&mut self, name: &str, role: &str) -> Result<(), EtcdError> {
        if self.state.enabled && name == ROOT && role == ROOT {
            return Err(EtcdError::InvalidAuthMgmt);
        }
        let mut user = self.user(name)?;
        let before = user.roles.len();
        user.roles.retain(|granted| granted != role);
        if user.roles.len() == before {
            return Err(EtcdError::RoleNotGranted);
        }
        self.put_user(user);
        self.commit_revision();
        Ok(())
    }

    /// etcd's `RoleAdd`.
    pub fn role_add(&mut self, name: &str) -> Result<(), EtcdError> {
        if name.is_empty() {
            return Err(EtcdError::RoleEmpty);
        }
        if self.state.roles.contains_key(name) {
            return Err(EtcdError::RoleAlreadyExist);
        }
        self.put_role(Role {
            name: name.as_bytes().to_vec(),
            key_permission: Vec::new(),
        });
        self.commit_revision();
        Ok(())
    }

    /// etcd's `RoleDelete`: the role is revoked from every user that has it.
    pub fn role_delete(&mut self, name: &str) -> Result<(), EtcdError> {
        if self.state.enabled && name == ROOT {
            return Err(EtcdError::InvalidAuthMgmt);
        }
        self.role(name)?;
        self.state.roles.remove(name);
        self.changes
            .push(AuthChange::DeleteRole(name.as_bytes().to_vec()));
        let holders: Vec<User> = self
            .state
            .users
            .values()
            .filter(|user| user.roles.iter().any(|role| role == name))
            .cloned()
            .collect();
        for mut user in holders {
            user.roles.retain(|role| role != name);
            self.put_user(user);
        }
        self.commit_revision();
        Ok(())
    }

    /// etcd's `RoleGrantPermission`: a permission on the same key and range end as the first
    /// one at or after its key replaces that one's type; others are added in key order.
    pub fn role_grant_permission(
        &mut self,
        name: &str,
        permission: Option<Permission>,
    ) -> Result<(), EtcdError> {
        let permission = permission.ok_or(EtcdError::PermissionNotGiven)?;
        let mut role = self.role(name)?;
        let at = role
            .key_permission
            .partition_point(|existing| existing.key < permission.key);
        match role.key_permission.get_mut(at) {
            Some(existing)
                if existing.key == permission.key && existing.range_end == permission.range_end =>
            {
                existing.perm_type = permission.perm_type;
            }
            _ => {
                role.key_permission.push(permission);
                role.key_permission.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
        self.put_role(role);
        self.commit_revision();
        Ok(())
    }

    /// etcd's `RoleRevokePermission`: removes the permissions on exactly `key`, `range_end`.
    pub fn role_revoke_permission(
        &mut self,
        name: &str,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), EtcdError> {
        let mut role = self.role(name)?;
        let before = role.key_permission.len();
        role.key_permission
            .retain(|permission| permission.key != key || permission.range_end != range_end);
        if role.key_permission.len() == before {
            return Err(EtcdError::PermissionNotGranted);
        }
        self.put_role(role);
        self.commit_revision();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashed() -> Result<Vec<u8>, EtcdError> {
        Ok(b"hash".to_vec())
    }

    #[test]
    fn enable_needs_root_with_root_role_and_keeps_the_revision() {
        let state = AuthState::load(&AuthRecords::default()).unwrap();
        assert_eq!(state.revision, 1);
        let mut draft = Draft::new(&state);
        assert_eq!(draft.enable(), Err(EtcdError::RootUserNotExist));
        draft.user_add(ROOT, hashed(), None).unwrap();
        assert_eq!(draft.enable(), Err(EtcdError::RootRoleNotExist));
        draft.user_grant_role(ROOT, ROOT).unwrap();
        assert_eq!(draft.state().revision, 3);
        draft.enable().unwrap();
        assert_eq!(draft.state().revision, 3);
        assert_eq!(draft.user_delete(ROOT), Err(EtcdError::InvalidAuthMgmt));
        assert_eq!(
            draft.user_revoke_role(ROOT, ROOT),
            Err(EtcdError::InvalidAuthMgmt)
        );
        assert_eq!(draft.role_delete(ROOT), Err(EtcdError::InvalidAuthMgmt));
        draft.disable();
        assert_eq!(draft.state().revision, 4);
    }

    #[test]
    fn errors_of_users_and_roles() {
        let state = AuthState::default();
        let mut draft = Draft::new(&state);
        assert_eq!(
            draft.user_add("", hashed(), None),
            Err(EtcdError::UserEmpty)
        );
        draft.user_add("u", hashed(), None).unwrap();
        assert_eq!(
            draft.user_add("u", hashed(), None),
            Err(EtcdError::UserAlreadyExist)
        );
        assert_eq!(draft.role_add(""), Err(EtcdError::RoleEmpty));
        assert_eq!(
            draft.user_grant_role("u", "r"),
            Err(EtcdError::RoleNotFound)
        );
        assert_eq!(
            draft.user_grant_role("x", "r"),
            Err(EtcdError::UserNotFound)
        );
        draft.role_add("r").unwrap();
        assert_eq!(draft.role_add("r"), Err(EtcdError::RoleAlreadyExist));
        draft.user_grant_role("u", "r").unwrap();
        let revision = draft.state().revision;
        draft.user_grant_role("u", "r").unwrap();
        assert_eq!(draft.state().revision, revision);
        assert_eq!(
            draft.role_grant_permission("r", None),
            Err(EtcdError::PermissionNotGiven)
        );
        assert_eq!(
            draft.role_revoke_permission("r", b"k", b""),
            Err(EtcdError::PermissionNotGranted)
        );
        draft.role_delete("r").unwrap();
        assert!(draft.state().users["u"].roles.is_empty());
        assert_eq!(
            draft.user_revoke_role("u", "r"),
            Err(EtcdError::RoleNotGranted)
        );
    }
}
