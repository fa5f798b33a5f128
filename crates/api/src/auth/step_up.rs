//! PIN step-up, the one check for the actions PIN protection guards (deleting a
//! connector, revoking an API key, removing a member; billing changes and deleting the
//! organization call `require` too). While an org has protection on, a signed-in caller
//! needs an open step-up window for this session in this org (opened by entering their
//! personal PIN, `pin::service::verify`), else `pin-required`; an API key, which cannot
//! type a PIN, needs the `sensitive` scope, else `insufficient-scope`. With protection
//! off everything behaves as before.
//!
//! Handlers take `Sensitive<OrgAdmin>` (or call `guard` when only one branch of the
//! handler is guarded); only this module makes one, after the check.
use super::extract::{OrgAdmin, OrgMember, OrgOwner, Principal, state};
use crate::{
    entity::{org_pin_protection, pin_step_up},
    http::{ApiError, ApiResult, ErrorKind},
    state::AppState,
};
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use gatehouse_types::ApiKeyScope;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

/// A caller on an org route, whichever role proof it carries.
pub trait OnOrg {
    fn on_org(&self) -> &OrgMember;
}
impl OnOrg for OrgMember {
    fn on_org(&self) -> &OrgMember {
        self
    }
}
impl OnOrg for OrgAdmin {
    fn on_org(&self) -> &OrgMember {
        self.member()
    }
}
impl OnOrg for OrgOwner {
    fn on_org(&self) -> &OrgMember {
        self.member()
    }
}

/// `T` (an `OrgAdmin`, say) that has passed the step-up check for this request.
#[derive(Debug, Clone)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Sensitive<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Whether the org has PIN protection on.
pub async fn protection_on<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> Result<bool, sea_orm::DbErr> {
    Ok(org_pin_protection::Entity::find_by_id(org_id)
        .one(db)
        .await?
        .is_some())
}

/// Whether this session has an open step-up window in this org.
pub async fn window_open<C: ConnectionTrait>(
    db: &C,
    session_id: Uuid,
    org_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    Ok(pin_step_up::Entity::find()
        .filter(pin_step_up::Column::SessionId.eq(session_id))
        .filter(pin_step_up::Column::OrgId.eq(org_id))
        .filter(pin_step_up::Column::ExpiresAt.gt(now))
        .one(db)
        .await?
        .is_some())
}

fn pin_required(slug: &str) -> ApiError {
    ApiError::with_detail(
        ErrorKind::PinRequired,
        format!(
            "this organization has PIN protection on: enter your PIN (POST /api/v1/orgs/{slug}/pin/verify) and retry"
        ),
    )
}

/// A signed-in caller with an open step-up window, whether or not protection is on:
/// for granting what outlives the window (an API key's `sensitive` scope).
pub async fn require_window(st: &AppState, m: &OrgMember) -> ApiResult<()> {
    match &m.principal {
        Principal::User(c) => {
            if window_open(&st.db, c.session_id, m.org.id, st.clock.now()).await? {
                Ok(())
            } else {
                Err(pin_required(&m.org.slug))
            }
        }
        Principal::ApiKey { .. } => Err(ApiError::with_detail(
            ErrorKind::Forbidden,
            "an API key cannot pass a PIN step-up",
        )),
    }
}

/// The check: passes when the org has protection off, the session has an open window,
/// or the API key has the `sensitive` scope.
pub async fn require(st: &AppState, m: &OrgMember) -> ApiResult<()> {
    if !protection_on(&st.db, m.org.id).await? {
        return Ok(());
    }
    match &m.principal {
        Principal::User(_) => require_window(st, m).await,
        Principal::ApiKey { key, .. } if key.has(ApiKeyScope::Sensitive) => Ok(()),
        Principal::ApiKey { .. } => Err(ApiError::with_detail(
            ErrorKind::InsufficientScope,
            "this organization has PIN protection on: this action needs an API key with the `sensitive` scope",
        )),
    }
}

/// `caller` once `require` has passed.
pub async fn guard<T: OnOrg>(st: &AppState, caller: T) -> ApiResult<Sensitive<T>> {
    require(st, caller.on_org()).await?;
    Ok(Sensitive(caller))
}

impl FromRequest for Sensitive<OrgAdmin> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req: HttpRequest = req.clone();
        let admin = OrgAdmin::from_request(&req, payload);
        Box::pin(async move {
            let admin = admin.await?;
            let st = state(&req)?;
            guard(&st, admin).await
        })
    }
}

impl FromRequest for Sensitive<OrgOwner> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req: HttpRequest = req.clone();
        let owner = OrgOwner::from_request(&req, payload);
        Box::pin(async move {
            let owner = owner.await?;
            let st = state(&req)?;
            guard(&st, owner).await
        })
    }
}
