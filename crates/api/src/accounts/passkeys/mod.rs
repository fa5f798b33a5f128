//! The signed-in user's passkeys (`/me/passkeys`) and a passkey as a login's second
//! step. The rules are in `service`.
pub mod service;

use super::pending_login;
use crate::{
    auth::CurrentUser,
    entity::user_passkey,
    http::{ApiError, ApiResult, ClientMeta, ErrorKind},
    sessions::SignInMethod,
    state::AppState,
    throttle,
};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use gatehouse_types::{
    CreatePasskeyRequest, MfaPasskeyOptionsRequest, MfaPasskeyRequest, Passkey, PasskeyOptions,
    PasskeySignInOptions, PasskeySignInRequest, RemovePasskeyRequest, RenamePasskeyRequest,
};
use uuid::Uuid;

pub fn to_api(row: &user_passkey::Model) -> Passkey {
    Passkey {
        id: row.id,
        name: row.name.clone(),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    }
}

/// Start registering a passkey: the options for `navigator.credentials.create()`
/// (existing passkeys excluded). Good for 5 minutes, for this session.
#[utoipa::path(operation_id = "passkeyRegistrationOptions", security(("session" = [])),
    tag = "passkeys", responses((status = 200, body = PasskeyOptions), (status = 409, body = gatehouse_types::Problem)))]
#[post("/me/passkeys/options")]
pub async fn registration_options(
    me: CurrentUser,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<PasskeyOptions>> {
    Ok(web::Json(service::start_registration(&st, &me).await?))
}

/// Finish registering a passkey with the browser's answer. Audited and emailed.
#[utoipa::path(operation_id = "createPasskey", security(("session" = [])),
    tag = "passkeys", request_body = CreatePasskeyRequest,
    responses((status = 201, body = Passkey), (status = 400, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem)))]
#[post("/me/passkeys")]
pub async fn create(
    me: CurrentUser,
    body: web::Json<CreatePasskeyRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let row = service::finish_registration(&st, &me, &body.name, body.credential).await?;
    Ok(HttpResponse::Created().json(to_api(&row)))
}

/// The caller's passkeys, oldest first.
#[utoipa::path(operation_id = "listPasskeys", security(("session" = [])),
    tag = "passkeys", responses((status = 200, body = Vec<Passkey>)))]
#[get("/me/passkeys")]
pub async fn list(me: CurrentUser, st: web::Data<AppState>) -> ApiResult<web::Json<Vec<Passkey>>> {
    let rows = service::list(&st.db, me.user.id).await?;
    Ok(web::Json(rows.iter().map(to_api).collect()))
}

/// Rename a passkey.
#[utoipa::path(operation_id = "renamePasskey", security(("session" = [])),
    tag = "passkeys", params(("id" = Uuid, Path)), request_body = RenamePasskeyRequest,
    responses((status = 200, body = Passkey)))]
#[patch("/me/passkeys/{id}")]
pub async fn rename(
    me: CurrentUser,
    id: web::Path<Uuid>,
    body: web::Json<RenamePasskeyRequest>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Passkey>> {
    let row = service::rename(&st, &me, id.into_inner(), &body.name).await?;
    Ok(web::Json(to_api(&row)))
}

/// Remove a passkey; the account password confirms it (401 `invalid-credentials`
/// when wrong).
#[utoipa::path(operation_id = "removePasskey", security(("session" = [])),
    tag = "passkeys", params(("id" = Uuid, Path)), request_body = RemovePasskeyRequest,
    responses((status = 204), (status = 401, body = gatehouse_types::Problem), (status = 429, body = gatehouse_types::Problem)))]
#[delete("/me/passkeys/{id}")]
pub async fn remove(
    me: CurrentUser,
    id: web::Path<Uuid>,
    body: web::Json<RemovePasskeyRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    service::remove(&st, &me, id.into_inner(), body.into_inner().password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The second step of a login with a passkey, part one: the options for
/// `navigator.credentials.get()` with the user's passkeys. The challenge is kept with
/// the pending login; asking again replaces it.
#[utoipa::path(operation_id = "mfaPasskeyOptions",
    tag = "passkeys", request_body = MfaPasskeyOptionsRequest,
    responses((status = 200, body = PasskeyOptions), (status = 400, body = gatehouse_types::Problem), (status = 401, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem)))]
#[post("/auth/mfa/passkey/options")]
pub async fn login_options(
    req: HttpRequest,
    body: web::Json<MfaPasskeyOptionsRequest>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<PasskeyOptions>> {
    crate::auth::extract::check_origin(&req, &st.public_origin, false)?;
    let pending = pending_login::find(&st, &body.pending_token).await?;
    let (options, state) = service::start_authentication(&st, pending.user_id).await?;
    pending_login::set_challenge(&st, pending.id, &state).await?;
    Ok(web::Json(options))
}

/// The second step of a login with a passkey, part two: the browser's answer. Answers
/// like `POST /auth/login`: the user and the session cookie (signed in with
/// `passkey`). A refused answer counts as a wrong code (`mfa-code-invalid`; 429 beyond
/// the login limit).
#[utoipa::path(operation_id = "verifyMfaPasskey",
    tag = "passkeys", request_body = MfaPasskeyRequest,
    responses((status = 200, body = gatehouse_types::User), (status = 400, body = gatehouse_types::Problem), (status = 401, body = gatehouse_types::Problem), (status = 429, body = gatehouse_types::Problem)))]
#[post("/auth/mfa/passkey")]
pub async fn login_verify(
    req: HttpRequest,
    meta: ClientMeta,
    body: web::Json<MfaPasskeyRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    crate::auth::extract::check_origin(&req, &st.public_origin, false)?;
    let body = body.into_inner();
    let pending = pending_login::find(&st, &body.pending_token).await?;
    let Some(state) = pending.challenge.clone() else {
        return Err(ApiError::with_detail(
            ErrorKind::PasskeyInvalid,
            "ask for the passkey options of this sign-in first",
        ));
    };
    pending_login::reserve_attempt(&st, &pending, &meta).await?;
    if service::finish_authentication(&st, pending.user_id, &state, body.credential)
        .await?
        .is_none()
    {
        return Err(ApiError::with_detail(
            ErrorKind::MfaCodeInvalid,
            "the passkey was not accepted",
        ));
    }
    let txn = crate::db::begin(&st.db).await?;
    pending_login::complete(&st, txn, &meta, pending, SignInMethod::Passkey).await
}

/// Sign in with a passkey alone (no email, no password), part one: options for
/// `navigator.credentials.get()` that let the device offer its passkeys for this site,
/// and the ceremony token to send back with the answer (single use, 5 minutes). A
/// passkey verifies its user on the device, so it is a second factor by itself.
#[utoipa::path(operation_id = "passkeySignInOptions",
    tag = "passkeys", responses((status = 200, body = PasskeySignInOptions), (status = 409, body = gatehouse_types::Problem)))]
#[post("/auth/passkey/options")]
pub async fn sign_in_options(
    req: HttpRequest,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<PasskeySignInOptions>> {
    crate::auth::extract::check_origin(&req, &st.public_origin, false)?;
    let (ceremony, options) = service::start_sign_in(&st).await?;
    Ok(web::Json(PasskeySignInOptions {
        ceremony,
        public_key: options.public_key,
    }))
}

/// Sign in with a passkey alone, part two: the browser's answer. Answers like
/// `POST /auth/login`: the user and the session cookie (signed in with `passkey`). A
/// refused answer (or an unknown, used or expired ceremony) is `passkey-invalid`;
/// attempts count against the client address's login limit (429 beyond).
#[utoipa::path(operation_id = "passkeySignIn",
    tag = "passkeys", request_body = PasskeySignInRequest,
    responses((status = 200, body = gatehouse_types::User), (status = 400, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem), (status = 429, body = gatehouse_types::Problem)))]
#[post("/auth/passkey")]
pub async fn sign_in(
    req: HttpRequest,
    meta: ClientMeta,
    body: web::Json<PasskeySignInRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    crate::auth::extract::check_origin(&req, &st.public_origin, false)?;
    let body = body.into_inner();
    let now = st.clock.now();
    let ip_key = throttle::ip_key(meta.ip.as_deref().unwrap_or("unknown"));
    let limit = throttle::Limit::ip(&st.config.login);
    if let throttle::Reservation::Refused { retry_after } =
        throttle::reserve(&st.db, &ip_key, limit, now).await?
    {
        return Err(ApiError::too_many("failed sign-ins", retry_after));
    }
    let Some(user_id) = service::finish_sign_in(&st, &body.ceremony, body.credential).await? else {
        return Err(ApiError::with_detail(
            ErrorKind::PasskeyInvalid,
            "the passkey was not accepted",
        ));
    };
    let txn = crate::db::begin(&st.db).await?;
    throttle::release(&txn, &ip_key).await?;
    let u = <crate::entity::user::Entity as sea_orm::EntityTrait>::find_by_id(user_id)
        .one(&txn)
        .await?
        .ok_or_else(|| {
            ApiError::with_detail(ErrorKind::PasskeyInvalid, "the passkey was not accepted")
        })?;
    crate::accounts::start_session(&st, txn, &u, &meta, SignInMethod::Passkey, now).await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(sign_in_options)
        .service(sign_in)
        .service(login_options)
        .service(login_verify)
        .service(registration_options)
        .service(create)
        .service(list)
        .service(rename)
        .service(remove);
}
