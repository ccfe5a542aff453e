//! The gRPC services the embedded backend does not provide yet: every method answers
//! `Unimplemented` with `embedded backend does not support <Method> yet` (the method's gRPC
//! name), which the JSON gateway turns into HTTP 501.

use std::pin::Pin;

use tonic::codegen::tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::etcdserverpb::auth_server::Auth;
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
    AuthUserRevokeRoleResponse, AuthenticateRequest, AuthenticateResponse,
};
use crate::v3electionpb::election_server::Election;
use crate::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderRequest, LeaderResponse, ProclaimRequest,
    ProclaimResponse, ResignRequest, ResignResponse,
};
use crate::v3lockpb::lock_server::Lock;
use crate::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};

/// The status every unsupported method answers; `method` is its gRPC name (e.g. `AuthEnable`).
pub fn unsupported(method: &str) -> Status {
    Status::unimplemented(format!("embedded backend does not support {method} yet"))
}

/// A boxed server stream, the stream type of the unsupported streaming methods.
pub type UnsupportedStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Implements the `Auth`, `Election` and `Lock` services with every method answering
/// [`unsupported`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Unimplemented;

/// Implements a service trait for [`Unimplemented`]: the unary methods listed answer
/// [`unsupported`] with their gRPC name; the streaming ones follow as plain items.
macro_rules! unsupported_service {
    (
        $service:path {
            $($fn_name:ident($request:ty) -> $response:ty = $method:literal;)*
        }
        $($streaming:tt)*
    ) => {
        #[tonic::async_trait]
        impl $service for Unimplemented {
            $(
                async fn $fn_name(
                    &self,
                    _request: Request<$request>,
                ) -> Result<Response<$response>, Status> {
                    Err(unsupported($method))
                }
            )*
            $($streaming)*
        }
    };
}

unsupported_service! {
    Auth {
        auth_enable(AuthEnableRequest) -> AuthEnableResponse = "AuthEnable";
        auth_disable(AuthDisableRequest) -> AuthDisableResponse = "AuthDisable";
        auth_status(AuthStatusRequest) -> AuthStatusResponse = "AuthStatus";
        authenticate(AuthenticateRequest) -> AuthenticateResponse = "Authenticate";
        user_add(AuthUserAddRequest) -> AuthUserAddResponse = "UserAdd";
        user_get(AuthUserGetRequest) -> AuthUserGetResponse = "UserGet";
        user_list(AuthUserListRequest) -> AuthUserListResponse = "UserList";
        user_delete(AuthUserDeleteRequest) -> AuthUserDeleteResponse = "UserDelete";
        user_change_password(AuthUserChangePasswordRequest)
            -> AuthUserChangePasswordResponse = "UserChangePassword";
        user_grant_role(AuthUserGrantRoleRequest) -> AuthUserGrantRoleResponse = "UserGrantRole";
        user_revoke_role(AuthUserRevokeRoleRequest)
            -> AuthUserRevokeRoleResponse = "UserRevokeRole";
        role_add(AuthRoleAddRequest) -> AuthRoleAddResponse = "RoleAdd";
        role_get(AuthRoleGetRequest) -> AuthRoleGetResponse = "RoleGet";
        role_list(AuthRoleListRequest) -> AuthRoleListResponse = "RoleList";
        role_delete(AuthRoleDeleteRequest) -> AuthRoleDeleteResponse = "RoleDelete";
        role_grant_permission(AuthRoleGrantPermissionRequest)
            -> AuthRoleGrantPermissionResponse = "RoleGrantPermission";
        role_revoke_permission(AuthRoleRevokePermissionRequest)
            -> AuthRoleRevokePermissionResponse = "RoleRevokePermission";
    }
}

unsupported_service! {
    Election {
        campaign(CampaignRequest) -> CampaignResponse = "Campaign";
        proclaim(ProclaimRequest) -> ProclaimResponse = "Proclaim";
        leader(LeaderRequest) -> LeaderResponse = "Leader";
        resign(ResignRequest) -> ResignResponse = "Resign";
    }

    type ObserveStream = UnsupportedStream<LeaderResponse>;

    async fn observe(
        &self,
        _request: Request<LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        Err(unsupported("Observe"))
    }
}

unsupported_service! {
    Lock {
        lock(LockRequest) -> LockResponse = "Lock";
        unlock(UnlockRequest) -> UnlockResponse = "Unlock";
    }
}
