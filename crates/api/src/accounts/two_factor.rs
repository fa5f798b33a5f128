//! Personal two-factor authentication: TOTP enrolment (RFC 6238: SHA-1, 6 digits, 30 s,
//! ±1 step), backup codes, the code second step of a login, turning it off, and the
//! account's security summary.
use super::{mfa, pending_login};
use crate::{
    audit::{self, Context, Event},
    auth::CurrentUser,
    entity::{user, user_backup_code, user_passkey, user_totp},
    http::{ApiError, ApiResult, ClientMeta, ErrorKind},
    jobs,
    mail::Email,
    sessions::SignInMethod,
    state::AppState,
    throttle,
};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use gatehouse_types::{
    AccountSecurity, BackupCodes, DisableTotpRequest, MfaCodeMethod, MfaVerifyRequest,
    RegenerateBackupCodesRequest, TotpConfirmRequest, TotpEnrolment, User,
};
use rand::{Rng, RngCore, rngs::OsRng};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
    sea_query::{Condition, Expr},
};
use uuid::Uuid;

const ISSUER: &str = "Gatehouse";
const STEP_SECONDS: i64 = 30;
pub const BACKUP_CODE_COUNT: usize = 10;
/// Lowercase letters and digits without the look-alikes (0/o, 1/l/i).
const BACKUP_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
const BACKUP_MAC_PURPOSE: &str = "backup-code";

fn totp(secret: Vec<u8>, email: &str) -> ApiResult<totp_rs::Totp> {
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(email)
        .build()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("totp: {e:?}")))
}

fn open_secret(st: &AppState, row: &user_totp::Model) -> ApiResult<Vec<u8>> {
    st.cipher
        .decrypt(&row.secret_enc)
        .map_err(ApiError::internal)
}

/// The time step `code` belongs to, within ±1 step of now and later than `after` (a
/// code is accepted once: the step of the last accepted one is stored).
fn matching_step(
    t: &totp_rs::Totp,
    code: &str,
    now: DateTime<Utc>,
    after: Option<i64>,
) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let origin = now.timestamp().div_euclid(STEP_SECONDS);
    (origin - 1..=origin + 1)
        .filter(|s| after.is_none_or(|last| *s > last))
        .find(|s| {
            let want = t.generate((*s * STEP_SECONDS) as u64).to_string();
            bool::from(subtle::ConstantTimeEq::ct_eq(
                want.as_bytes(),
                code.as_bytes(),
            ))
        })
}

fn code_invalid() -> ApiError {
    ApiError::new(ErrorKind::MfaCodeInvalid)
}

async fn confirmed_totp<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> ApiResult<Option<user_totp::Model>> {
    Ok(user_totp::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .filter(|t| t.confirmed_at.is_some()))
}

/// Checks a TOTP code of the user's confirmed enrolment and records its step, so the
/// same code (or an older one) is refused from now on, also on another replica.
async fn use_totp_code<C: ConnectionTrait>(
    st: &AppState,
    db: &C,
    u: &user::Model,
    code: &str,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let row = confirmed_totp(db, u.id).await?.ok_or_else(code_invalid)?;
    let t = totp(open_secret(st, &row)?, &u.email)?;
    let step = matching_step(&t, code, now, row.last_step).ok_or_else(code_invalid)?;
    let n = user_totp::Entity::update_many()
        .col_expr(user_totp::Column::LastStep, Expr::value(Some(step)))
        .filter(user_totp::Column::UserId.eq(u.id))
        .filter(
            Condition::any()
                .add(user_totp::Column::LastStep.is_null())
                .add(user_totp::Column::LastStep.lt(step)),
        )
        .exec(db)
        .await?
        .rows_affected;
    if n == 0 {
        return Err(code_invalid());
    }
    Ok(())
}

/// `xxxx-xxxx`, for reading aloud and typing.
fn new_backup_code() -> String {
    let mut rng = OsRng;
    let mut s = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            s.push('-');
        }
        s.push(BACKUP_ALPHABET[rng.gen_range(0..BACKUP_ALPHABET.len())] as char);
    }
    s
}

/// Case, dashes and spaces do not matter when a code is typed.
fn backup_code_hash(st: &AppState, code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    st.cipher.mac(BACKUP_MAC_PURPOSE, normal.as_bytes())
}

/// A fresh set of backup codes; the old set no longer works.
async fn replace_backup_codes<C: ConnectionTrait>(
    st: &AppState,
    db: &C,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<Vec<String>> {
    user_backup_code::Entity::delete_many()
        .filter(user_backup_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let codes: Vec<String> = (0..BACKUP_CODE_COUNT).map(|_| new_backup_code()).collect();
    let rows = codes.iter().map(|c| user_backup_code::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        code_hash: Set(backup_code_hash(st, c)),
        created_at: Set(now),
        used_at: Set(None),
    });
    user_backup_code::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(codes)
}

pub async fn backup_codes_remaining<C: ConnectionTrait>(db: &C, user_id: Uuid) -> ApiResult<u64> {
    Ok(user_backup_code::Entity::find()
        .filter(user_backup_code::Column::UserId.eq(user_id))
        .filter(user_backup_code::Column::UsedAt.is_null())
        .count(db)
        .await?)
}

/// Uses up one backup code (once, even under concurrency) and audits it; with
/// `email`, tells the user how many are left (not when the use turns 2FA off, which
/// voids the rest and sends its own email).
async fn use_backup_code<C: ConnectionTrait>(
    st: &AppState,
    db: &C,
    u: &user::Model,
    meta: &ClientMeta,
    code: &str,
    now: DateTime<Utc>,
    email: bool,
) -> ApiResult<()> {
    if code.len() > 64 {
        return Err(code_invalid());
    }
    let n = user_backup_code::Entity::update_many()
        .col_expr(user_backup_code::Column::UsedAt, Expr::value(Some(now)))
        .filter(user_backup_code::Column::UserId.eq(u.id))
        .filter(user_backup_code::Column::CodeHash.eq(backup_code_hash(st, code)))
        .filter(user_backup_code::Column::UsedAt.is_null())
        .exec(db)
        .await?
        .rows_affected;
    if n == 0 {
        return Err(code_invalid());
    }
    let remaining = backup_codes_remaining(db, u.id).await?;
    audit::record(
        db,
        &Context::user(u, meta.clone()),
        now,
        Event::BackupCodeUsed {
            user_id: u.id,
            remaining,
        },
    )
    .await?;
    if !email {
        return Ok(());
    }
    notify(
        st,
        db,
        u,
        "Gatehouse: a backup code was used",
        &format!(
            "One of your backup codes was just used. {remaining} unused codes are left; you can make a new set under Account → Security."
        ),
    )
    .await
}

/// Emails the user about a change to their second factors (durable, in the change's
/// transaction). Never carries a code or secret.
async fn notify<C: ConnectionTrait>(
    st: &AppState,
    db: &C,
    u: &user::Model,
    subject: &str,
    what: &str,
) -> ApiResult<()> {
    let email = Email {
        to: u.email.clone(),
        subject: subject.to_string(),
        body: format!(
            "{what}\n\nIf this was not you, change your password at {}/account and review your sessions.\n",
            st.public_url
        ),
    };
    jobs::mail::send(st, db, email).await?;
    Ok(())
}

/// The second steps a user with MFA can take at login.
pub async fn methods<C: ConnectionTrait>(db: &C, user_id: Uuid) -> ApiResult<Vec<String>> {
    let mut m = Vec::new();
    if confirmed_totp(db, user_id).await?.is_some() {
        m.push("totp".to_string());
    }
    if backup_codes_remaining(db, user_id).await? > 0 {
        m.push("backup_code".to_string());
    }
    let passkeys = user_passkey::Entity::find()
        .filter(user_passkey::Column::UserId.eq(user_id))
        .count(db)
        .await?;
    if passkeys > 0 {
        m.push("passkey".to_string());
    }
    Ok(m)
}

/// Start (or restart) setting up an authenticator app. Returns the secret, the
/// `otpauth://` URI and its QR code once; nothing is enabled until
/// `POST /me/totp/confirm` proves a code. 409 when TOTP is already on.
#[utoipa::path(operation_id = "startTotpEnrolment", security(("session" = [])),
    tag = "two-factor", responses((status = 200, body = TotpEnrolment), (status = 401, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem)))]
#[post("/me/totp")]
pub async fn start_enrolment(
    me: CurrentUser,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<TotpEnrolment>> {
    let mut secret = vec![0u8; 20];
    OsRng.fill_bytes(&mut secret);
    let t = totp(secret.clone(), &me.user.email)?;
    let otpauth_uri = t
        .to_url()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("totp url: {e:?}")))?;
    let qr_svg = qrcode::QrCode::new(otpauth_uri.as_bytes())
        .map_err(ApiError::internal)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .build();
    let sealed = st.cipher.encrypt(&secret).map_err(ApiError::internal)?;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    if confirmed_totp(&txn, me.user.id).await?.is_some() {
        return Err(ApiError::conflict(
            "two-factor authentication is already on; turn it off first",
        ));
    }
    user_totp::Entity::delete_by_id(me.user.id)
        .exec(&txn)
        .await?;
    user_totp::ActiveModel {
        user_id: Set(me.user.id),
        secret_enc: Set(sealed),
        created_at: Set(now),
        confirmed_at: Set(None),
        last_step: Set(None),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(web::Json(TotpEnrolment {
        secret: t.secret().to_base32(),
        otpauth_uri,
        qr_svg,
    }))
}

/// Turn TOTP on with a code from the authenticator app. Returns the 10 backup codes,
/// shown this once. 409 without a started enrolment; wrong codes are throttled.
#[utoipa::path(operation_id = "confirmTotpEnrolment", security(("session" = [])),
    tag = "two-factor", request_body = TotpConfirmRequest,
    responses((status = 200, body = BackupCodes), (status = 401, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem), (status = 429, body = gatehouse_types::Problem)))]
#[post("/me/totp/confirm")]
pub async fn confirm_enrolment(
    me: CurrentUser,
    body: web::Json<TotpConfirmRequest>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<BackupCodes>> {
    let now = st.clock.now();
    let row = user_totp::Entity::find_by_id(me.user.id)
        .one(&st.db)
        .await?;
    let Some(row) = row.filter(|r| r.confirmed_at.is_none()) else {
        return Err(ApiError::conflict(
            "no authenticator set-up in progress; start one with POST /me/totp",
        ));
    };
    pending_login::reserve_code_slot(&st, me.user.id, now).await?;
    let t = totp(open_secret(&st, &row)?, &me.user.email)?;
    let step = matching_step(&t, &body.code, now, None).ok_or_else(code_invalid)?;
    let txn = crate::db::begin(&st.db).await?;
    // Only the enrolment that was checked, and only once.
    let n = user_totp::Entity::update_many()
        .col_expr(user_totp::Column::ConfirmedAt, Expr::value(Some(now)))
        .col_expr(user_totp::Column::LastStep, Expr::value(Some(step)))
        .filter(user_totp::Column::UserId.eq(me.user.id))
        .filter(user_totp::Column::SecretEnc.eq(row.secret_enc.clone()))
        .filter(user_totp::Column::ConfirmedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    if n == 0 {
        return Err(ApiError::conflict(
            "this set-up was replaced or already confirmed",
        ));
    }
    let codes = replace_backup_codes(&st, &txn, me.user.id, now).await?;
    throttle::clear(&txn, &pending_login::account_key(me.user.id)).await?;
    audit::record(
        &txn,
        &Context::from(&me),
        now,
        Event::TwoFactorEnabled {
            user_id: me.user.id,
        },
    )
    .await?;
    notify(
        &st,
        &txn,
        &me.user,
        "Gatehouse: two-factor sign-in turned on",
        "An authenticator app was just set up as the second step of signing in to your account.",
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(BackupCodes { codes }))
}

/// Turn TOTP off, with the password and a current code (from the app, or a backup
/// code). The backup codes go with it.
#[utoipa::path(operation_id = "disableTotp", security(("session" = [])),
    tag = "two-factor", request_body = DisableTotpRequest,
    responses((status = 204), (status = 401, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem), (status = 429, body = gatehouse_types::Problem)))]
#[delete("/me/totp")]
pub async fn disable(
    me: CurrentUser,
    body: web::Json<DisableTotpRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let now = st.clock.now();
    if confirmed_totp(&st.db, me.user.id).await?.is_none() {
        return Err(ApiError::conflict("two-factor authentication is not on"));
    }
    super::confirm_password(&st, &me.user, body.password, "password").await?;
    pending_login::reserve_code_slot(&st, me.user.id, now).await?;
    let txn = crate::db::begin(&st.db).await?;
    let code = body.code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        use_totp_code(&st, &txn, &me.user, code, now).await?;
    } else {
        use_backup_code(&st, &txn, &me.user, &me.meta, code, now, false).await?;
    }
    user_totp::Entity::delete_by_id(me.user.id)
        .exec(&txn)
        .await?;
    user_backup_code::Entity::delete_many()
        .filter(user_backup_code::Column::UserId.eq(me.user.id))
        .exec(&txn)
        .await?;
    throttle::clear(&txn, &pending_login::account_key(me.user.id)).await?;
    let revoked = mfa::end_grants_if_mfa_lost(&txn, me.user.id, now, &Context::from(&me)).await?;
    audit::record(
        &txn,
        &Context::from(&me),
        now,
        Event::TwoFactorDisabled {
            user_id: me.user.id,
        },
    )
    .await?;
    notify(
        &st,
        &txn,
        &me.user,
        "Gatehouse: two-factor sign-in turned off",
        "The authenticator app and the backup codes of your account were just removed; signing in needs only the password now (or a passkey, if you have one).",
    )
    .await?;
    txn.commit().await?;
    crate::oauth::tokens::mark_revoked(&st, revoked);
    Ok(HttpResponse::NoContent().finish())
}

/// Make a new set of 10 backup codes (shown this once); the old set stops working.
/// Needs the password.
#[utoipa::path(operation_id = "regenerateBackupCodes", security(("session" = [])),
    tag = "two-factor", request_body = RegenerateBackupCodesRequest,
    responses((status = 200, body = BackupCodes), (status = 401, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem), (status = 429, body = gatehouse_types::Problem)))]
#[post("/me/backup-codes")]
pub async fn regenerate_backup_codes(
    me: CurrentUser,
    body: web::Json<RegenerateBackupCodesRequest>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<BackupCodes>> {
    if confirmed_totp(&st.db, me.user.id).await?.is_none() {
        return Err(ApiError::conflict(
            "backup codes come with an authenticator app; set one up first",
        ));
    }
    let now = st.clock.now();
    // A stolen session must not be a way to guess the password without limit.
    super::confirm_password(&st, &me.user, body.into_inner().password, "password").await?;
    let txn = crate::db::begin(&st.db).await?;
    let codes = replace_backup_codes(&st, &txn, me.user.id, now).await?;
    audit::record(
        &txn,
        &Context::from(&me),
        now,
        Event::BackupCodesRegenerated {
            user_id: me.user.id,
            count: codes.len() as u64,
        },
    )
    .await?;
    notify(
        &st,
        &txn,
        &me.user,
        "Gatehouse: new backup codes",
        "A new set of backup codes was just made for your account; the previous codes no longer work.",
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(BackupCodes { codes }))
}

/// The signed-in user's second factors: whether TOTP is on, backup codes left,
/// passkeys, and whether the account counts as having MFA.
#[utoipa::path(operation_id = "getAccountSecurity", security(("session" = [])),
    tag = "two-factor", responses((status = 200, body = AccountSecurity), (status = 401, body = gatehouse_types::Problem)))]
#[get("/me/security")]
pub async fn security(
    me: CurrentUser,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<AccountSecurity>> {
    let id = me.user.id;
    let passkeys = user_passkey::Entity::find()
        .filter(user_passkey::Column::UserId.eq(id))
        .count(&st.db)
        .await?;
    Ok(web::Json(AccountSecurity {
        totp_enabled: confirmed_totp(&st.db, id).await?.is_some(),
        backup_codes_remaining: backup_codes_remaining(&st.db, id).await?,
        passkeys,
        mfa: mfa::has_mfa(&st.db, id).await?,
        pin_set: crate::pin::service::pin_set(&st.db, id).await?,
    }))
}

/// The second step of a login with a code: `totp` (from the authenticator app) or
/// `backup_code`. Answers like `POST /auth/login`: the user and the session cookie.
/// Wrong codes count against the sign-in attempt and the account (429 beyond).
#[utoipa::path(operation_id = "verifyMfa",
    tag = "accounts", request_body = MfaVerifyRequest,
    responses((status = 200, body = User), (status = 401, body = gatehouse_types::Problem), (status = 429, body = gatehouse_types::Problem)))]
#[post("/auth/mfa")]
pub async fn verify(
    req: HttpRequest,
    meta: ClientMeta,
    body: web::Json<MfaVerifyRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    crate::auth::extract::check_origin(&req, &st.public_origin, false)?;
    let body = body.into_inner();
    let pending = pending_login::find(&st, &body.pending_token).await?;
    pending_login::reserve_attempt(&st, &pending, &meta).await?;
    let now = st.clock.now();
    let u = user::Entity::find_by_id(pending.user_id)
        .one(&st.db)
        .await?
        .ok_or_else(|| ApiError::new(ErrorKind::MfaPendingInvalid))?;
    let txn = crate::db::begin(&st.db).await?;
    let method = match body.method {
        MfaCodeMethod::Totp => {
            use_totp_code(&st, &txn, &u, &body.code, now).await?;
            SignInMethod::Totp
        }
        MfaCodeMethod::BackupCode => {
            use_backup_code(&st, &txn, &u, &meta, &body.code, now, true).await?;
            SignInMethod::BackupCode
        }
    };
    pending_login::complete(&st, txn, &meta, pending, method).await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(start_enrolment)
        .service(confirm_enrolment)
        .service(disable)
        .service(regenerate_backup_codes)
        .service(security)
        .service(verify);
}
