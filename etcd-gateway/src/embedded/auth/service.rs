//! etcd's Auth gRPC service on the [`AuthStore`], as etcd's `v3_server.go` and
//! `apply_auth.go` answer it: management calls need the `root` role while auth is enabled
//! (`UserGet` of oneself and `RoleGet` of one's own role excepted), passwords are hashed
//! with bcrypt before they are stored, every response carries the store's header.

use std::sync::Arc;

use pbjson::private::base64::Engine;
use pbjson::private::base64::engine::general_purpose::STANDARD;
use tonic::{Request, Response, Status};

use super::store::{AuthStore, Caller};
use crate::embedded::errors::EtcdError;
use crate::etcdserverpb::auth_server::{Auth, AuthServer};
use crate::etcdserverpb::{
    AuthDisableRequest, AuthDisableResponse, AuthEnableRequest, AuthEnableResponse,
    AuthRoleAddRequest, AuthRoleAddResponse, AuthRoleDeleteRequest, AuthRoleDeleteResponse,
    AuthRoleGetRequest, AuthRoleGetResponse, AuthRoleGrantPermissionRequest,
    AuthRoleGrantPermissionResponse, AuthRoleListRequest, AuthRoleListResponse,
    AuthRoleRevokePermissionRequest, AuthRoleRevokePermissionResponse, AuthStatusRequest,
    AuthStatusResponse, AuthUserAddRequest, AuthUserAddResponse, AuthUserChangePasswordRequest,
    AuthUserChangePasswordResponse, AuthUserDeleteRequest, AuthUserDeleteResponse,
    AuthUserGetRequest, AuthUserGetResponse, AuthUserGrantRoleRequest, AuthUserGrantRoleResponse,
    AuthUserListRequest, AuthUserListResponse, AuthUserRevokeRoleRequest,
    AuthUserRevokeRoleResponse, AuthenticateRequest, AuthenticateResponse, ResponseHeader,
};

/// The Auth service.
#[derive(Clone, Debug)]
pub struct AuthService {
    auth: Arc<AuthStore>,
}

impl AuthService {
    /// The service on `auth`.
    pub fn new(auth: Arc<AuthStore>) -> Self {
        Self { auth }
    }

    /// The tonic server of this service.
    pub fn into_server(self) -> AuthServer<Self> {
        AuthServer::new(self)
    }

    fn header(&self, revision: i64) -> Option<ResponseHeader> {
        Some(self.auth.store().header(revision))
    }

    fn current_header(&self) -> Option<ResponseHeader> {
        self.header(self.auth.store().current_revision())
    }

    /// The caller of a management call that needs the `root` role, checked before any
    /// expensive work (the check is made again when the change applies).
    fn admin<T>(&self, request: &Request<T>) -> Result<Caller, EtcdError> {
        let caller = self.auth.caller(request.metadata())?;
        self.auth.is_admin_permitted(&caller)?;
        Ok(caller)
    }

    /// Applies an admin change and answers the store revision after it.
    async fn admin_change(
        &self,
        caller: &Caller,
        change: impl FnOnce(&mut super::state::Draft) -> Result<(), EtcdError>,
    ) -> Result<Option<ResponseHeader>, Status> {
        let ((), revision) = self.auth.change(caller, true, change).await?;
        Ok(self.header(revision))
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_enable(
        &self,
        request: Request<AuthEnableRequest>,
    ) -> Result<Response<AuthEnableResponse>, Status> {
        let caller = self.admin(&request)?;
        let header = self.admin_change(&caller, |draft| draft.enable()).await?;
        Ok(Response::new(AuthEnableResponse { header }))
    }

    async fn auth_disable(
        &self,
        request: Request<AuthDisableRequest>,
    ) -> Result<Response<AuthDisableResponse>, Status> {
        let caller = self.admin(&request)?;
        let header = self
            .admin_change(&caller, |draft| {
                draft.disable();
                Ok(())
            })
            .await?;
        Ok(Response::new(AuthDisableResponse { header }))
    }

    async fn auth_status(
        &self,
        request: Request<AuthStatusRequest>,
    ) -> Result<Response<AuthStatusResponse>, Status> {
        self.admin(&request)?;
        let state = self.auth.state();
        Ok(Response::new(AuthStatusResponse {
            header: self.current_header(),
            enabled: state.enabled,
            auth_revision: state.revision,
        }))
    }

    async fn authenticate(
        &self,
        request: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let request = request.into_inner();
        let token = self
            .auth
            .authenticate(&request.name, &request.password)
            .await?;
        Ok(Response::new(AuthenticateResponse {
            header: self.current_header(),
            token,
        }))
    }

    async fn user_add(
        &self,
        request: Request<AuthUserAddRequest>,
    ) -> Result<Response<AuthUserAddResponse>, Status> {
        let caller = self.admin(&request)?;
        let request = request.into_inner();
        let no_password = request.options.as_ref().is_some_and(|o| o.no_password);
        // etcd hashes the password given (even an empty one) and ignores hashed_password.
        let password = if no_password {
            Err(EtcdError::NoPasswordUser)
        } else {
            Ok(self.auth.hash_password(&request.password).await?)
        };
        let header = self
            .admin_change(&caller, |draft| {
                draft.user_add(&request.name, password, request.options)
            })
            .await?;
        Ok(Response::new(AuthUserAddResponse { header }))
    }

    async fn user_get(
        &self,
        request: Request<AuthUserGetRequest>,
    ) -> Result<Response<AuthUserGetResponse>, Status> {
        let caller = self.auth.caller(request.metadata())?;
        let request = request.into_inner();
        if let Err(err) = self.auth.is_admin_permitted(&caller)
            && request.name != caller.username
        {
            return Err(err.into());
        }
        let user = self
            .auth
            .state()
            .users
            .get(&request.name)
            .cloned()
            .ok_or(EtcdError::UserNotFound)?;
        Ok(Response::new(AuthUserGetResponse {
            header: self.current_header(),
            roles: user.roles,
        }))
    }

    async fn user_list(
        &self,
        request: Request<AuthUserListRequest>,
    ) -> Result<Response<AuthUserListResponse>, Status> {
        self.admin(&request)?;
        Ok(Response::new(AuthUserListResponse {
            header: self.current_header(),
            users: self.auth.state().users.keys().cloned().collect(),
        }))
    }

    async fn user_delete(
        &self,
        request: Request<AuthUserDeleteRequest>,
    ) -> Result<Response<AuthUserDeleteResponse>, Status> {
        let caller = self.admin(&request)?;
        let name = request.into_inner().name;
        let header = self
            .admin_change(&caller, |draft| draft.user_delete(&name))
            .await?;
        self.auth.invalidate_user(&name);
        Ok(Response::new(AuthUserDeleteResponse { header }))
    }

    async fn user_change_password(
        &self,
        request: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        let caller = self.admin(&request)?;
        let request = request.into_inner();
        let password = if request.password.is_empty() {
            STANDARD
                .decode(&request.hashed_password)
                .map_err(|_| EtcdError::NoPasswordUser)
        } else {
            Ok(self.auth.hash_password(&request.password).await?)
        };
        let header = self
            .admin_change(&caller, |draft| {
                draft.user_change_password(&request.name, password)
            })
            .await?;
        self.auth.invalidate_user(&request.name);
        Ok(Response::new(AuthUserChangePasswordResponse { header }))
    }

    async fn user_grant_role(
        &self,
        request: Request<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        let caller = self.admin(&request)?;
        let request = request.into_inner();
        let header = self
            .admin_change(&caller, |draft| {
                draft.user_grant_role(&request.user, &request.role)
            })
            .await?;
        Ok(Response::new(AuthUserGrantRoleResponse { header }))
    }

    async fn user_revoke_role(
        &self,
        request: Request<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        let caller = self.admin(&request)?;
        let request = request.into_inner();
        let header = self
            .admin_change(&caller, |draft| {
                draft.user_revoke_role(&request.name, &request.role)
            })
            .await?;
        Ok(Response::new(AuthUserRevokeRoleResponse { header }))
    }

    async fn role_add(
        &self,
        request: Request<AuthRoleAddRequest>,
    ) -> Result<Response<AuthRoleAddResponse>, Status> {
        let caller = self.admin(&request)?;
        let name = request.into_inner().name;
        let header = self
            .admin_change(&caller, |draft| draft.role_add(&name))
            .await?;
        Ok(Response::new(AuthRoleAddResponse { header }))
    }

    async fn role_get(
        &self,
        request: Request<AuthRoleGetRequest>,
    ) -> Result<Response<AuthRoleGetResponse>, Status> {
        let caller = self.auth.caller(request.metadata())?;
        let request = request.into_inner();
        let state = self.auth.state();
        if let Err(err) = self.auth.is_admin_permitted(&caller)
            && !state.has_role(&caller.username, &request.role)
        {
            return Err(err.into());
        }
        let role = state
            .roles
            .get(&request.role)
            .cloned()
            .ok_or(EtcdError::RoleNotFound)?;
        Ok(Response::new(AuthRoleGetResponse {
            header: self.current_header(),
            perm: role.key_permission,
        }))
    }

    async fn role_list(
        &self,
        request: Request<AuthRoleListRequest>,
    ) -> Result<Response<AuthRoleListResponse>, Status> {
        self.admin(&request)?;
        Ok(Response::new(AuthRoleListResponse {
            header: self.current_header(),
            roles: self.auth.state().roles.keys().cloned().collect(),
        }))
    }

    async fn role_delete(
        &self,
        request: Request<AuthRoleDeleteRequest>,
    ) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        let caller = self.admin(&request)?;
        let role = request.into_inner().role;
        let header = self
            .admin_change(&caller, |draft| draft.role_delete(&role))
            .await?;
        Ok(Response::new(AuthRoleDeleteResponse { header }))
    }

    async fn role_grant_permission(
        &self,
        request: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        let caller = self.admin(&request)?;
        let request = request.into_inner();
        let header = self
            .admin_change(&caller, |draft| {
                draft.role_grant_permission(&request.name, request.perm)
            })
            .await?;
        Ok(Response::new(AuthRoleGrantPermissionResponse { header }))
    }

    async fn role_revoke_permission(
        &self,
        request: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        let caller = self.admin(&request)?;
        let request = request.into_inner();
        let header = self
            .admin_change(&caller, |draft| {
                draft.role_revoke_permission(&request.role, &request.key, &request.range_end)
            })
            .await?;
        Ok(Response::new(AuthRoleRevokePermissionResponse { header }))
    }
}
