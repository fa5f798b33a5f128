//! Users: sign-up, email verification, login (with a second step for users with
//! MFA) and logout, profile, password change and reset by email, two-factor set-up.
pub mod mfa;
pub mod passkeys;
pub mod pending_login;
pub mod service;
pub mod two_factor;

use crate::{
    audit::{self, Context, Event},
    auth::{CurrentUser, MaybeUser},
    crypto::{self, TokenKind},
    entity::{user, user_token},
    http::{ApiError, ApiResult, ClientMeta, ErrorKind, problem::Validation},
    jobs,
    mail::Email,
    sessions,
    state::AppState,
    throttle,
};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Duration, Utc};
use gatehouse_types::{
    Accepted, ChangePasswordRequest, LoginRequest, MfaChallenge, PasswordResetConfirm,
    PasswordResetRequest, SignupRequest, TokenRequest, UpdateMeRequest, User,
    validation::{DISPLAY_NAME_MAX_CHARS, password_problem},
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
    sea_query::Expr,
};
use uuid::Uuid;

pub const VERIFY_TTL_HOURS: i64 = 48;
pub const RESET_TTL_MINUTES: i64 = 30;

/// The `user_tokens.purpose` of each kind of emailed one-time token.
fn purpose(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::PasswordReset => "password_reset",
        TokenKind::EmailVerification => "verify_email",
        TokenKind::PinReset => "pin_reset",
        // Not stored in user_tokens; a look-up under this purpose finds nothing.
        _ => "none",
    }
}

/// Emails compare case-insensitively: stored trimmed and lowercased.
pub fn normalize_email(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    (e.len() <= 320 && email_address::EmailAddress::is_valid(&e) && e.contains('.')).then_some(e)
}

pub fn to_api(u: &user::Model) -> User {
    User {
        id: u.id,
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        email_verified: u.email_verified_at.is_some(),
        created_at: u.created_at,
    }
}

fn clean_display_name(v: &mut Validation, name: Option<&str>) -> String {
    let raw = name.unwrap_or_default();
    let n = raw.trim().to_string();
    if raw.chars().count() > DISPLAY_NAME_MAX_CHARS {
        v.push(
            "display_name",
            format!("at most {DISPLAY_NAME_MAX_CHARS} characters"),
        );
    }
    if n.chars().any(char::is_control) {
        v.push("display_name", "must not contain control characters");
    }
    n
}

pub async fn find_by_email<C: ConnectionTrait>(
    db: &C,
    email: &str,
) -> Result<Option<user::Model>, sea_orm::DbErr> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await
}

/// Inserts a user; `EmailTaken` when the normalized address exists.
pub async fn insert_user<C: ConnectionTrait>(
    db: &C,
    email: &str,
    display_name: &str,
    password_hash: String,
    verified_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ApiResult<user::Model> {
    if find_by_email(db, email).await?.is_some() {
        return Err(ApiError::new(ErrorKind::EmailTaken));
    }
    let model = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.to_string()),
        display_name: Set(display_name.to_string()),
        password_hash: Set(password_hash),
        email_verified_at: Set(verified_at),
        created_at: Set(now),
        updated_at: Set(now),
    };
    model.insert(db).await.map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => ApiError::new(ErrorKind::EmailTaken),
        _ => e.into(),
    })
}

/// Issues a one-time token of `kind`, replacing earlier unused ones.
pub(crate) async fn issue_token<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    kind: TokenKind,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<String, sea_orm::DbErr> {
    let purpose = purpose(kind);
    user_token::Entity::delete_many()
        .filter(user_token::Column::UserId.eq(user_id))
        .filter(user_token::Column::Purpose.eq(purpose))
        .filter(user_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    let token = crypto::generate_token(kind);
    user_token::Entity::insert(user_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        purpose: Set(purpose.to_string()),
        token_hash: Set(crypto::hash_token(&token)),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        used_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(token)
}

/// Marks a one-time token used and returns its user. Single use holds under
/// concurrency: only one conditional UPDATE can flip `used_at`.
pub(crate) async fn consume_token<C: ConnectionTrait>(
    db: &C,
    kind: TokenKind,
    token: &str,
    now: DateTime<Utc>,
) -> ApiResult<user::Model> {
    if !crypto::token_is_well_formed(kind, token) {
        return Err(ApiError::new(ErrorKind::TokenInvalid));
    }
    let row = user_token::Entity::find()
        .filter(user_token::Column::TokenHash.eq(crypto::hash_token(token)))
        .filter(user_token::Column::Purpose.eq(purpose(kind)))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::new(ErrorKind::TokenInvalid))?;
    if row.used_at.is_some() {
        return Err(ApiError::with_detail(
            ErrorKind::TokenInvalid,
            "this link has already been used",
        ));
    }
    if row.expires_at <= now {
        return Err(ApiError::new(ErrorKind::TokenExpired));
    }
    let n = user_token::Entity::update_many()
        .col_expr(user_token::Column::UsedAt, Expr::value(Some(now)))
        .filter(user_token::Column::Id.eq(row.id))
        .filter(user_token::Column::UsedAt.is_null())
        .exec(db)
        .await?
        .rows_affected;
    if n == 0 {
        return Err(ApiError::with_detail(
            ErrorKind::TokenInvalid,
            "this link has already been used",
        ));
    }
    user::Entity::find_by_id(row.user_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::new(ErrorKind::TokenInvalid))
}

/// Whether the mail limits let one more email to `to` go out now (see
/// `throttle::reserve_mail`). A refusal is logged without the address.
async fn mail_allowed<C: sea_orm::ConnectionTrait>(
    st: &AppState,
    db: &C,
    to: &str,
    requester_ip: Option<&str>,
    what: &'static str,
) -> ApiResult<Result<(), u64>> {
    match throttle::reserve_mail(db, &st.config.mail_limit, to, requester_ip, st.clock.now())
        .await?
    {
        throttle::Reservation::Granted { .. } => Ok(Ok(())),
        throttle::Reservation::Refused { retry_after } => {
            tracing::info!(email = what, "email not sent: mail rate limit reached");
            Ok(Err(retry_after))
        }
    }
}

fn verification_email(st: &AppState, to: &str, token: &str) -> Email {
    Email {
        to: to.to_string(),
        subject: "Confirm your email address for Gatehouse".into(),
        body: format!(
            "Confirm your email address by opening this link:\n\n{}/verify-email?token={token}\n\nThe link is valid for {VERIFY_TTL_HOURS} hours. If you did not sign up for Gatehouse, ignore this message.\n",
            st.public_url
        ),
    }
}

fn with_session(
    st: &AppState,
    token: &str,
    status: actix_web::http::StatusCode,
    body: User,
) -> HttpResponse {
    let mut resp = HttpResponse::build(status);
    sessions::set_cookies(&mut resp, st, token);
    resp.json(body)
}

/// Ends a login that has passed every check: creates the session (signed in with
/// `method`), records `auth.login_succeeded`, commits the caller's transaction (which
/// holds whatever the login used up: a code, a pending login, throttle slots) and
/// answers with the user, the session cookies and the device cookie. Every login path
/// goes through here.
pub(crate) async fn start_session(
    st: &AppState,
    txn: sea_orm::DatabaseTransaction,
    u: &user::Model,
    meta: &ClientMeta,
    method: sessions::SignInMethod,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<HttpResponse> {
    let (token, session_id) = sessions::create_with(&txn, u.id, meta, now, method).await?;
    audit::record(
        &txn,
        &Context::user(u, meta.clone()),
        now,
        Event::LoginSucceeded {
            user_id: u.id,
            session_id,
        },
    )
    .await?;
    txn.commit().await?;
    let mut res = with_session(st, &token, actix_web::http::StatusCode::OK, to_api(u));
    res.add_cookie(&device_cookie(st, u.id))
        .map_err(ApiError::internal)?;
    Ok(res)
}

/// Create an account and sign in. A verification link is emailed.
#[utoipa::path(operation_id = "signup",
    tag = "accounts", request_body = SignupRequest,
    responses((status = 201, body = User), (status = 409, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem)))]
#[post("/auth/signup")]
pub async fn signup(
    req: HttpRequest,
    meta: ClientMeta,
    body: web::Json<SignupRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    crate::auth::extract::check_origin(&req, &st.public_origin, false)?;
    let body = body.into_inner();
    let account = service::check_new_account(service::NewAccount {
        email: &body.email,
        password: body.password,
        display_name: body.display_name.as_deref(),
    })
    .await?;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let requester = meta.ip.clone().unwrap_or_else(|| "unknown".into());
    let u = service::create_account(&txn, account, None, now).await?;
    let verify = issue_token(
        &txn,
        u.id,
        TokenKind::EmailVerification,
        Duration::hours(VERIFY_TTL_HOURS),
        now,
    )
    .await?;
    let (session, _) = sessions::create(&txn, u.id, &meta, now).await?;
    audit::record(
        &txn,
        &Context::user(&u, meta),
        now,
        Event::UserSignedUp {
            user_id: u.id,
            via_invitation: false,
        },
    )
    .await?;
    // Over the limit the account is still created; the user can ask for the link again.
    if mail_allowed(&st, &txn, &u.email, Some(&requester), "verification")
        .await?
        .is_ok()
    {
        jobs::mail::send(&st, &txn, verification_email(&st, &u.email, &verify)).await?;
    }
    txn.commit().await?;
    let mut res = with_session(
        &st,
        &session,
        actix_web::http::StatusCode::CREATED,
        to_api(&u),
    );
    res.add_cookie(&device_cookie(&st, u.id))
        .map_err(ApiError::internal)?;
    Ok(res)
}

/// Confirm an email address with the token from the verification email.
#[utoipa::path(operation_id = "verifyEmail",
    tag = "accounts", request_body = TokenRequest,
    responses((status = 200, body = User), (status = 400, body = gatehouse_types::Problem), (status = 410, body = gatehouse_types::Problem)))]
#[post("/auth/verify-email")]
pub async fn verify_email(
    meta: ClientMeta,
    body: web::Json<TokenRequest>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<User>> {
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let u = consume_token(&txn, TokenKind::EmailVerification, body.token.trim(), now).await?;
    let mut am = u.clone().into_active_model();
    am.email_verified_at = Set(Some(u.email_verified_at.unwrap_or(now)));
    am.updated_at = Set(now);
    let u = am.update(&txn).await?;
    audit::record(
        &txn,
        &Context::user(&u, meta),
        now,
        Event::UserEmailVerified { user_id: u.id },
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(to_api(&u)))
}

/// Send the verification email again (emails to one address are limited per hour: 429
/// with `Retry-After`).
#[utoipa::path(operation_id = "resendVerificationEmail", security(("session" = [])),
    tag = "accounts", responses((status = 202, body = Accepted), (status = 429, body = gatehouse_types::Problem)))]
#[post("/auth/verify-email/resend")]
pub async fn resend_verification(
    me: CurrentUser,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    if me.user.email_verified_at.is_none() {
        // The requester is signed in and asks for mail to their own address: a 429
        // tells them to wait, and reveals nothing.
        if let Err(secs) = mail_allowed(&st, &st.db, &me.user.email, None, "verification").await? {
            return Err(ApiError::too_many("emails to this address", secs));
        }
        let now = st.clock.now();
        let txn = crate::db::begin(&st.db).await?;
        let token = issue_token(
            &txn,
            me.user.id,
            TokenKind::EmailVerification,
            Duration::hours(VERIFY_TTL_HOURS),
            now,
        )
        .await?;
        jobs::mail::send(&st, &txn, verification_email(&st, &me.user.email, &token)).await?;
        txn.commit().await?;
    }
    Ok(HttpResponse::Accepted().json(Accepted {
        message: "If the address is unverified, a new link is on its way.".into(),
    }))
}

/// The cookie that marks a browser where a user has signed in before. Its attempts
/// count against a limit of their own and are not stopped by the account's lock, so a
/// stranger's wrong guesses cannot lock a user out of the devices they already use.
pub const DEVICE_COOKIE: &str = "gatehouse_device";
const DEVICE_COOKIE_DAYS: i64 = 180;
const DEVICE_MAC_PURPOSE: &str = "device-cookie";

/// `{nonce}.{mac}`, the MAC binding the nonce to the user: stateless, and useless for
/// any other account.
fn device_cookie(st: &AppState, user_id: Uuid) -> actix_web::cookie::Cookie<'static> {
    // Unique per device; the MAC, not the nonce, is what cannot be forged.
    let nonce = Uuid::now_v7().simple().to_string();
    let mac = st.cipher.mac(
        DEVICE_MAC_PURPOSE,
        device_mac_input(user_id, &nonce).as_bytes(),
    );
    actix_web::cookie::Cookie::build(DEVICE_COOKIE, format!("{nonce}.{mac}"))
        .path("/api/v1/auth")
        .http_only(true)
        .secure(st.secure_cookies)
        .same_site(actix_web::cookie::SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::days(DEVICE_COOKIE_DAYS))
        .finish()
}

fn device_mac_input(user_id: Uuid, nonce: &str) -> String {
    format!("{user_id}\0{nonce}")
}

/// The nonce of the request's device cookie when it was issued to `user_id`.
fn known_device(req: &HttpRequest, st: &AppState, user_id: Uuid) -> Option<String> {
    let c = req.cookie(DEVICE_COOKIE)?;
    let (nonce, mac) = c.value().split_once('.')?;
    if nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let want = st.cipher.mac(
        DEVICE_MAC_PURPOSE,
        device_mac_input(user_id, nonce).as_bytes(),
    );
    bool::from(subtle::ConstantTimeEq::ct_eq(
        want.as_bytes(),
        mac.as_bytes(),
    ))
    .then(|| nonce.to_string())
}

fn too_many_attempts(secs: u64) -> ApiError {
    ApiError::too_many("failed logins", secs)
}

/// Checks the password of `u` for an action that asks for it again (turning 2FA off,
/// removing a passkey, a new password, a PIN reset). Each try first takes a slot of
/// the account's login counter, so no such route is a way around the login throttle
/// (429 with `Retry-After` beyond it); the right password gives the slot back. A wrong
/// one is 401 `invalid-credentials` naming `field`.
pub(crate) async fn confirm_password(
    st: &AppState,
    u: &user::Model,
    password: String,
    field: &str,
) -> ApiResult<()> {
    let key = throttle::account_key(&u.email);
    let limit = throttle::Limit::account(&st.config.login);
    if let throttle::Reservation::Refused { retry_after } =
        throttle::reserve(&st.db, &key, limit, st.clock.now()).await?
    {
        return Err(ApiError::too_many("wrong passwords", retry_after));
    }
    if !crypto::verify_password_blocking(password, u.password_hash.clone()).await {
        return Err(ApiError::wrong_password(field));
    }
    throttle::release(&st.db, &key).await?;
    Ok(())
}

/// Log in with email and password. Attempts are counted before the password is
/// checked, per account and per client address (or per known device), and throttled
/// (429 with `Retry-After`) beyond the configured limits. A user with a second factor
/// gets 202 and an `MfaChallenge` instead of a session: finish with `POST /auth/mfa`
/// (or a passkey) within its `expires_in` seconds.
#[utoipa::path(operation_id = "login",
    tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = User), (status = 202, body = MfaChallenge), (status = 401, body = gatehouse_types::Problem), (status = 429, body = gatehouse_types::Problem)))]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    meta: ClientMeta,
    body: web::Json<LoginRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    crate::auth::extract::check_origin(&req, &st.public_origin, false)?;
    let body = body.into_inner();
    let now = st.clock.now();
    let email = normalize_email(&body.email).unwrap_or_else(|| body.email.trim().to_lowercase());
    let cfg = &st.config.login;
    let found = find_by_email(&st.db, &email).await?;
    // A known device has its own counter instead of the account's and the address's
    // (it is bound to this one account, so it cannot spray others).
    let device = found
        .as_ref()
        .and_then(|u| known_device(&req, &st, u.id).map(|n| throttle::device_key(u.id, &n)));
    let keys: Vec<(String, throttle::Limit)> = match &device {
        Some(k) => vec![(k.clone(), throttle::Limit::account(cfg))],
        None => vec![
            (throttle::account_key(&email), throttle::Limit::account(cfg)),
            (
                throttle::ip_key(meta.ip.as_deref().unwrap_or("unknown")),
                throttle::Limit::ip(cfg),
            ),
        ],
    };
    // Count the attempt before the slow hash: concurrent guesses cannot all pass a
    // check made before any of them is recorded.
    let mut locked = Vec::with_capacity(keys.len());
    for (i, (key, limit)) in keys.iter().enumerate() {
        match throttle::reserve(&st.db, key, *limit, now).await? {
            throttle::Reservation::Granted { locked: l } => locked.push(l),
            throttle::Reservation::Refused { retry_after } => {
                for (taken, _) in &keys[..i] {
                    throttle::release(&st.db, taken).await?;
                }
                return Err(too_many_attempts(retry_after));
            }
        }
    }
    let hash = found
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| crypto::DUMMY_PASSWORD_HASH.clone());
    let ok = crypto::verify_password_blocking(body.password, hash).await && found.is_some();
    let txn = crate::db::begin(&st.db).await?;
    match found {
        Some(u) if ok => {
            // The right password: the slots go back and the account's failures are
            // forgotten.
            throttle::clear(&txn, &throttle::account_key(&email)).await?;
            for (key, _) in &keys {
                if key.starts_with("ip:") {
                    throttle::release(&txn, key).await?;
                } else {
                    throttle::clear(&txn, key).await?;
                }
            }
            if mfa::has_mfa(&txn, u.id).await? {
                // No session yet: the second step finishes this login.
                let methods = two_factor::methods(&txn, u.id).await?;
                let pending_token = pending_login::start(&txn, u.id, &meta, now).await?;
                txn.commit().await?;
                return Ok(HttpResponse::Accepted().json(MfaChallenge {
                    pending_token,
                    methods,
                    expires_in: pending_login::TTL_SECONDS as u64,
                }));
            }
            start_session(&st, txn, &u, &meta, sessions::SignInMethod::Password, now).await
        }
        other => {
            let ctx = Context::system_for(meta);
            let user_id = other.as_ref().map(|u| u.id);
            let event = Event::LoginFailed {
                email: email.clone(),
                user_id,
            };
            audit::record(&txn, &ctx, now, event).await?;
            if locked.iter().any(|l| *l) {
                let lockout = match &device {
                    Some(_) => audit::Lockout::Device,
                    None => audit::Lockout::Counters {
                        account: locked[0],
                        ip: locked[1],
                    },
                };
                let lock = Event::LoginThrottled {
                    email: email.clone(),
                    user_id,
                    lockout,
                };
                audit::record(&txn, &ctx, now, lock).await?;
            }
            txn.commit().await?;
            Err(ApiError::new(ErrorKind::InvalidCredentials))
        }
    }
}

/// End the current session.
#[utoipa::path(operation_id = "logout", security((), ("session" = [])),
    tag = "accounts", responses((status = 204)))]
#[post("/auth/logout")]
pub async fn logout(me: MaybeUser, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    if let Some(me) = me.0 {
        let now = st.clock.now();
        let txn = crate::db::begin(&st.db).await?;
        crate::entity::session::Entity::delete_by_id(me.session_id)
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            &Context::from(&me),
            now,
            Event::LoggedOut {
                user_id: me.user.id,
                session_id: me.session_id,
            },
        )
        .await?;
        txn.commit().await?;
    }
    let mut resp = HttpResponse::NoContent();
    sessions::clear_cookies(&mut resp, &st);
    Ok(resp.finish())
}

/// Ask for a password-reset link. The answer is the same whether or not the address
/// has an account, and whether or not the mail limits (per address, per client) let the
/// email go out.
#[utoipa::path(operation_id = "requestPasswordReset",
    tag = "accounts", request_body = PasswordResetRequest, responses((status = 202, body = Accepted)))]
#[post("/auth/password-reset/request")]
pub async fn password_reset_request(
    meta: ClientMeta,
    body: web::Json<PasswordResetRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let accepted = HttpResponse::Accepted().json(Accepted {
        message: "If an account exists for that address, a reset link has been sent.".into(),
    });
    let Some(email) = normalize_email(&body.email) else {
        return Ok(accepted);
    };
    let Some(u) = find_by_email(&st.db, &email).await? else {
        return Ok(accepted);
    };
    // Over a limit the answer stays the same (it must not tell whether the address has
    // an account); the email is simply not sent.
    let requester = meta.ip.as_deref().unwrap_or("unknown");
    if mail_allowed(&st, &st.db, &u.email, Some(requester), "password_reset")
        .await?
        .is_err()
    {
        return Ok(accepted);
    }
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let token = issue_token(
        &txn,
        u.id,
        TokenKind::PasswordReset,
        Duration::minutes(RESET_TTL_MINUTES),
        now,
    )
    .await?;
    let email = Email {
        to: u.email.clone(),
        subject: "Reset your Gatehouse password".into(),
        body: format!(
            "Someone asked to reset the password of your Gatehouse account.\n\nSet a new password here:\n\n{}/reset-password?token={token}\n\nThe link works once and expires in {RESET_TTL_MINUTES} minutes. If it was not you, ignore this message; your password stays as it is.\n",
            st.public_url
        ),
    };
    jobs::mail::send(&st, &txn, email).await?;
    txn.commit().await?;
    Ok(accepted)
}

/// Set a new password with the token from the reset email. Ends every session.
#[utoipa::path(operation_id = "confirmPasswordReset",
    tag = "accounts", request_body = PasswordResetConfirm,
    responses((status = 204), (status = 400, body = gatehouse_types::Problem), (status = 410, body = gatehouse_types::Problem)))]
#[post("/auth/password-reset/confirm")]
pub async fn password_reset_confirm(
    meta: ClientMeta,
    body: web::Json<PasswordResetConfirm>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    if let Some(p) = password_problem(&body.new_password) {
        return Err(ApiError::field("new_password", p));
    }
    let hash = crypto::hash_password_blocking(body.new_password)
        .await
        .map_err(ApiError::internal)?;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let u = consume_token(&txn, TokenKind::PasswordReset, body.token.trim(), now).await?;
    let mut am = u.clone().into_active_model();
    am.password_hash = Set(hash);
    // Following the emailed link proves control of the address.
    am.email_verified_at = Set(Some(u.email_verified_at.unwrap_or(now)));
    am.updated_at = Set(now);
    am.update(&txn).await?;
    let ended = sessions::end_other_sessions(&txn, u.id, None).await?;
    throttle::clear(&txn, &throttle::account_key(&u.email)).await?;
    audit::record(
        &txn,
        &Context::user(&u, meta),
        now,
        Event::PasswordReset {
            user_id: u.id,
            sessions_ended: ended,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user.
#[utoipa::path(operation_id = "getMe", security(("session" = [])),
    tag = "accounts", responses((status = 200, body = User), (status = 401, body = gatehouse_types::Problem)))]
#[get("/me")]
pub async fn get_me(me: CurrentUser) -> web::Json<User> {
    web::Json(to_api(&me.user))
}

/// Update the signed-in user's profile.
#[utoipa::path(operation_id = "updateMe", security(("session" = [])),
    tag = "accounts", request_body = UpdateMeRequest, responses((status = 200, body = User), (status = 422, body = gatehouse_types::Problem)))]
#[patch("/me")]
pub async fn update_me(
    me: CurrentUser,
    body: web::Json<UpdateMeRequest>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<User>> {
    let mut v = Validation::default();
    let name = body
        .display_name
        .as_deref()
        .map(|n| clean_display_name(&mut v, Some(n)));
    v.finish()?;
    let Some(name) = name.filter(|n| *n != me.user.display_name) else {
        return Ok(web::Json(to_api(&me.user)));
    };
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let mut am = me.user.clone().into_active_model();
    am.display_name = Set(name.clone());
    am.updated_at = Set(now);
    let u = am.update(&txn).await?;
    audit::record(
        &txn,
        &Context::from(&me),
        now,
        Event::UserUpdated {
            user_id: u.id,
            display_name: gatehouse_types::events::Change {
                from: me.user.display_name.clone(),
                to: name,
            },
        },
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(to_api(&u)))
}

/// Change the password; every other session of the user ends.
#[utoipa::path(operation_id = "changePassword", security(("session" = [])),
    tag = "accounts", request_body = ChangePasswordRequest,
    responses((status = 204), (status = 401, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem), (status = 429, body = gatehouse_types::Problem)))]
#[post("/me/password")]
pub async fn change_password(
    me: CurrentUser,
    body: web::Json<ChangePasswordRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    if let Some(p) = password_problem(&body.new_password) {
        return Err(ApiError::field("new_password", p));
    }
    confirm_password(&st, &me.user, body.current_password, "current_password").await?;
    let hash = crypto::hash_password_blocking(body.new_password)
        .await
        .map_err(ApiError::internal)?;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let mut am = me.user.clone().into_active_model();
    am.password_hash = Set(hash);
    am.updated_at = Set(now);
    am.update(&txn).await?;
    let ended = sessions::end_other_sessions(&txn, me.user.id, Some(me.session_id)).await?;
    audit::record(
        &txn,
        &Context::from(&me),
        now,
        Event::PasswordChanged {
            user_id: me.user.id,
            sessions_ended: ended,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(signup)
        .service(verify_email)
        .service(resend_verification)
        .service(login)
        .service(logout)
        .service(password_reset_request)
        .service(password_reset_confirm)
        .service(get_me)
        .service(update_me)
        .service(change_password);
    two_factor::routes(cfg);
    passkeys::routes(cfg);
}
