//! PIN protection of sensitive actions: each person's own 6-digit PIN (set, change,
//! reset by password plus emailed link) and the step-up window entering it opens for
//! one session in one org. The org setting lives with the other security settings
//! (`security`); the check of guarded actions is `auth::step_up`.
pub mod service;

use crate::{
    auth::{CurrentUser, OrgMember},
    http::ApiResult,
    state::AppState,
};
use actix_web::{HttpResponse, get, post, put, web};
use gatehouse_types::{
    Accepted, PinResetConfirm, PinResetRequest, PinStatus, PinStepUp, SetPinRequest,
    VerifyPinRequest,
};

pub use service::pin_set;

/// Whether the caller has a PIN, and until when wrong tries locked it.
#[utoipa::path(operation_id = "getMyPin", security(("session" = [])),
    tag = "pin", responses((status = 200, body = PinStatus), (status = 401, body = gatehouse_types::Problem)))]
#[get("/me/pin")]
pub async fn get_pin(me: CurrentUser, st: web::Data<AppState>) -> ApiResult<web::Json<PinStatus>> {
    Ok(web::Json(service::status(&st, me.user.id).await?))
}

/// Set the personal PIN used in every organization with PIN protection: six digits,
/// twice. Changing an existing PIN needs `current_pin` or `password`; wrong ones count
/// towards the PIN's lockout (`pin-locked`). The PIN is stored as an argon2id hash and
/// never shown again.
#[utoipa::path(operation_id = "setMyPin", security(("session" = [])),
    tag = "pin", request_body = SetPinRequest,
    responses((status = 204), (status = 401, body = gatehouse_types::Problem),
        (status = 403, description = "`pin-invalid`: the current PIN is wrong", body = gatehouse_types::Problem),
        (status = 422, body = gatehouse_types::Problem),
        (status = 429, description = "`pin-locked`, with `Retry-After`", body = gatehouse_types::Problem)))]
#[put("/me/pin")]
pub async fn set_pin(
    me: CurrentUser,
    body: web::Json<SetPinRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    service::set_pin(&st, &me, body.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Forgot the PIN: with the account password, a single-use link to set a new one is
/// emailed (valid 30 minutes). Wrong passwords are throttled like logins.
#[utoipa::path(operation_id = "requestPinReset", security(("session" = [])),
    tag = "pin", request_body = PinResetRequest,
    responses((status = 202, body = Accepted), (status = 401, body = gatehouse_types::Problem),
        (status = 409, description = "`pin-not-set`", body = gatehouse_types::Problem),
        (status = 429, body = gatehouse_types::Problem)))]
#[post("/me/pin/reset")]
pub async fn request_reset(
    me: CurrentUser,
    body: web::Json<PinResetRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    service::request_reset(&st, &me, body.into_inner().password).await?;
    Ok(HttpResponse::Accepted().json(Accepted {
        message: "A link to set a new PIN is on its way to your email address.".into(),
    }))
}

/// Set a new PIN with the token from the reset email (signed in as the same account);
/// lifts any lockout.
#[utoipa::path(operation_id = "confirmPinReset", security(("session" = [])),
    tag = "pin", request_body = PinResetConfirm,
    responses((status = 204), (status = 400, body = gatehouse_types::Problem), (status = 410, body = gatehouse_types::Problem),
        (status = 422, body = gatehouse_types::Problem)))]
#[post("/me/pin/reset/confirm")]
pub async fn confirm_reset(
    me: CurrentUser,
    body: web::Json<PinResetConfirm>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    service::confirm_reset(&st, &me, body.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Enter the PIN to open a step-up window for this session in this organization
/// (`security.pin_step_up_secs`, 10 minutes by default): while PIN protection is on,
/// deleting a connector, revoking an API key and removing a member need one
/// (`pin-required` otherwise). After 5 wrong PINs the PIN locks, with a back-off that
/// doubles each time (`pin-locked`, 429 with `Retry-After`), and the member is emailed.
/// Signed-in members only: an API key cannot enter a PIN (403 `forbidden`).
#[utoipa::path(operation_id = "verifyPin", security(("session" = []), ("apiKey" = [])),
    tag = "pin", params(("slug" = String, Path)), request_body = VerifyPinRequest,
    responses((status = 200, body = PinStepUp),
        (status = 403, description = "`pin-invalid`: wrong PIN", body = gatehouse_types::Problem),
        (status = 404, body = gatehouse_types::Problem),
        (status = 409, description = "`pin-not-set`", body = gatehouse_types::Problem),
        (status = 422, body = gatehouse_types::Problem),
        (status = 429, description = "`pin-locked`, with `Retry-After`", body = gatehouse_types::Problem)))]
#[post("/orgs/{slug}/pin/verify")]
pub async fn verify(
    m: OrgMember,
    body: web::Json<VerifyPinRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let step_up = service::verify(&st, &m, body.into_inner().pin).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(step_up))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_pin)
        .service(set_pin)
        .service(request_reset)
        .service(confirm_reset)
        .service(verify);
}
