//! PIN rules: what a PIN may be, setting and changing it, the step-up it opens, wrong
//! tries and their lockout, reset by password plus emailed link, and turning an org's
//! protection on or off. The PIN is hashed with argon2id at once and never logged,
//! stored, audited or returned.
use crate::{
    accounts,
    audit::{self, Context, Event},
    auth::{CurrentUser, OrgAdmin, OrgMember, extract::Principal, step_up},
    crypto::{self, TokenKind},
    entity::{org_pin_protection, pin_step_up, user, user_pin},
    http::{ApiError, ApiResult, ErrorKind, problem::Validation},
    jobs,
    mail::Email,
    state::AppState,
    throttle,
};
use chrono::{DateTime, Duration, Utc};
use gatehouse_types::{
    PinResetConfirm, PinStatus, PinStepUp, SetPinRequest, events::Change, pin_well_formed,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QueryTrait, Set,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use uuid::Uuid;

pub const RESET_TTL_MINUTES: i64 = 30;
/// The longest lockout, however many came before.
const MAX_LOCKOUT_SECS: i64 = 24 * 3600;

/// Whether the user has a personal PIN (for the account security summary).
pub async fn pin_set<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<bool, sea_orm::DbErr> {
    Ok(user_pin::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .is_some())
}

pub async fn status(st: &AppState, user_id: Uuid) -> ApiResult<PinStatus> {
    let row = user_pin::Entity::find_by_id(user_id).one(&st.db).await?;
    let now = st.clock.now();
    Ok(PinStatus {
        pin_set: row.is_some(),
        locked_until: row.and_then(|r| r.locked_until).filter(|t| *t > now),
    })
}

/// Six digits, not one repeated nor a straight run (`123456`, `987654`), and the same
/// twice.
fn check_new_pin(v: &mut Validation, pin: &str, confirm: &str) {
    if !pin_well_formed(pin) {
        v.push("pin", "exactly 6 digits");
        return;
    }
    let d: Vec<i16> = pin.bytes().map(|b| i16::from(b - b'0')).collect();
    let steps: Vec<i16> = d.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.iter().all(|s| *s == steps[0]) && steps[0].abs() <= 1 {
        v.push(
            "pin",
            "too easy to guess: no repeated digit or straight run",
        );
    }
    if pin != confirm {
        v.push("confirm", "does not match the PIN");
    }
}

async fn hash(pin: String) -> ApiResult<String> {
    crypto::hash_password_blocking(pin)
        .await
        .map_err(ApiError::internal)
}

fn pin_locked(retry_after: u64) -> ApiError {
    ApiError {
        retry_after: Some(retry_after),
        detail: Some(format!(
            "too many wrong tries: your PIN is locked for {retry_after} seconds; reset it with your password if you forgot it"
        )),
        ..ApiError::new(ErrorKind::PinLocked)
    }
}

/// One try at the user's PIN (or password in its stead), counted before the slow hash
/// by one conditional UPDATE, so concurrent guesses on any replica get at most
/// `pin_max_failures` slots between lockouts. The try that takes the last slot sets
/// the lock in that same UPDATE (a provisional one of the base length, lengthened by
/// `failed` or lifted by `succeeded`), so a request that dies mid-check cannot leave
/// the count full with no lock to run out.
async fn reserve(
    st: &AppState,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<throttle::Reservation> {
    let sec = &st.config.security;
    let max = sec.pin_max_failures;
    // A lock that has run out starts a fresh count (the lockout number stays, so the
    // next lock is longer).
    user_pin::Entity::update_many()
        .col_expr(user_pin::Column::Failures, Expr::value(0))
        .col_expr(
            user_pin::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(user_pin::Column::UserId.eq(user_id))
        .filter(user_pin::Column::LockedUntil.lte(now))
        .exec(&st.db)
        .await?;
    let reaches = || Expr::col(user_pin::Column::Failures).add(1).gte(max);
    let lock_at = now + Duration::seconds(std::cmp::max(sec.pin_lockout_secs, 1));
    let mut update = user_pin::Entity::update_many()
        .col_expr(
            user_pin::Column::Failures,
            Expr::col(user_pin::Column::Failures).add(1),
        )
        .col_expr(
            user_pin::Column::LockedUntil,
            Expr::case(reaches(), Expr::value(Some(lock_at)))
                .finally(Expr::value(Option::<DateTime<Utc>>::None))
                .into(),
        )
        .col_expr(
            user_pin::Column::Lockouts,
            Expr::case(reaches(), Expr::col(user_pin::Column::Lockouts).add(1))
                .finally(Expr::col(user_pin::Column::Lockouts))
                .into(),
        )
        .filter(user_pin::Column::UserId.eq(user_id))
        .filter(user_pin::Column::Failures.lt(max))
        .filter(user_pin::Column::LockedUntil.is_null())
        .into_query();
    update.returning_col(user_pin::Column::Failures);
    if let Some(row) = st.db.query_one(&update).await? {
        let count: i32 = row.try_get("", "failures")?;
        return Ok(throttle::Reservation::Granted {
            locked: count >= max,
        });
    }
    let until = user_pin::Entity::find_by_id(user_id)
        .one(&st.db)
        .await?
        .and_then(|r| r.locked_until)
        .filter(|t| *t > now);
    let secs = until.map(|t| (t - now).num_seconds()).unwrap_or(1);
    Ok(throttle::Reservation::Refused {
        retry_after: std::cmp::Ord::max(secs, 1) as u64,
    })
}

/// A right answer: the count, the lock and the back-off start over.
async fn succeeded<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<(), sea_orm::DbErr> {
    user_pin::Entity::update_many()
        .col_expr(user_pin::Column::Failures, Expr::value(0))
        .col_expr(user_pin::Column::Lockouts, Expr::value(0))
        .col_expr(
            user_pin::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(user_pin::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// A wrong answer. The one that took the last slot has locked the PIN; the lock is
/// lengthened to double the one before (up to a day), audited and emailed to the user.
/// Returns the error to answer with.
async fn failed(
    st: &AppState,
    ctx: &Context,
    u: &user::Model,
    locked: bool,
    wrong: ApiError,
    now: DateTime<Utc>,
) -> ApiResult<ApiError> {
    if !locked {
        return Ok(wrong);
    }
    let txn = crate::db::begin(&st.db).await?;
    let row = user_pin::Entity::find_by_id(u.id)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("PIN row vanished")))?;
    let lockouts = row.lockouts;
    let secs = lockout_secs(st.config.security.pin_lockout_secs, lockouts);
    let until = now + Duration::seconds(secs);
    let mut am = row.into_active_model();
    am.locked_until = Set(Some(until));
    am.update(&txn).await?;
    let event = Event::PinLockedOut {
        user_id: u.id,
        lockouts,
        locked_until: until,
    };
    audit::record(&txn, ctx, now, event).await?;
    jobs::mail::send(st, &txn, locked_email(st, &u.email, until)).await?;
    txn.commit().await?;
    Ok(pin_locked(secs as u64))
}

/// The `n`th lockout in a row lasts `base · 2^(n-1)` seconds, at most a day (or
/// `base`, if that is longer).
fn lockout_secs(base: i64, n: i32) -> i64 {
    let base = std::cmp::max(base, 1);
    let doubled = base.saturating_mul(1i64 << (n - 1).clamp(0, 20));
    std::cmp::min(doubled, std::cmp::max(MAX_LOCKOUT_SECS, base))
}

fn locked_email(st: &AppState, to: &str, until: DateTime<Utc>) -> Email {
    Email {
        to: to.to_string(),
        subject: "Your Gatehouse PIN is locked".into(),
        body: format!(
            "Your PIN was entered wrongly too many times, so it is locked until {} UTC.\n\nIf that was not you, change your password at once: someone may be using your session. If you forgot your PIN, reset it with your password under Account → Security ({}/account/security).\n",
            until.format("%Y-%m-%d %H:%M:%S"),
            st.public_url
        ),
    }
}

/// The title already says the PIN is wrong; the detail says what comes of more.
fn wrong_pin(st: &AppState) -> ApiError {
    ApiError::with_detail(
        ErrorKind::PinInvalid,
        format!(
            "After {} wrong tries in a row the PIN is locked for a while.",
            st.config.security.pin_max_failures
        ),
    )
}

/// Checks one answer (the PIN against its hash, or the password) under the lockout.
async fn check_answer(
    st: &AppState,
    ctx: &Context,
    u: &user::Model,
    answer: String,
    hash: String,
    wrong: ApiError,
) -> ApiResult<()> {
    let now = st.clock.now();
    let locked = match reserve(st, u.id, now).await? {
        throttle::Reservation::Granted { locked } => locked,
        throttle::Reservation::Refused { retry_after } => return Err(pin_locked(retry_after)),
    };
    if crypto::verify_password_blocking(answer, hash).await {
        succeeded(&st.db, u.id).await?;
        Ok(())
    } else {
        Err(failed(st, ctx, u, locked, wrong, now).await?)
    }
}

/// Sets the caller's PIN: the first time with the PIN twice; a change also needs the
/// current PIN or the password (each wrong one counts towards the lockout).
pub async fn set_pin(st: &AppState, me: &CurrentUser, body: SetPinRequest) -> ApiResult<()> {
    let mut v = Validation::default();
    check_new_pin(&mut v, &body.pin, &body.confirm);
    let existing = user_pin::Entity::find_by_id(me.user.id).one(&st.db).await?;
    if existing.is_some() && body.current_pin.is_none() && body.password.is_none() {
        v.push(
            "current_pin",
            "to change your PIN, give your current PIN or your password",
        );
    }
    if let Some(p) = &body.current_pin
        && !pin_well_formed(p)
    {
        v.push("current_pin", "exactly 6 digits");
    }
    v.finish()?;
    let ctx = Context::from(me);
    let proof = match (existing, body.current_pin, body.password) {
        (None, ..) => None,
        (Some(row), Some(current), _) => {
            check_answer(st, &ctx, &me.user, current, row.pin_hash, wrong_pin(st)).await?;
            Some("pin")
        }
        (Some(_), None, password) => {
            // Validation above made sure one of the two is there.
            let hash = me.user.password_hash.clone();
            let password = password.unwrap_or_default();
            check_answer(
                st,
                &ctx,
                &me.user,
                password,
                hash,
                ApiError::wrong_password("password"),
            )
            .await?;
            Some("password")
        }
    };
    let pin_hash = hash(body.pin).await?;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    store(&txn, me.user.id, pin_hash, now).await?;
    let event = match proof {
        None => Event::PinSet {
            user_id: me.user.id,
        },
        Some(proof) => Event::PinChanged {
            user_id: me.user.id,
            proof,
        },
    };
    audit::record(&txn, &ctx, now, event).await?;
    txn.commit().await?;
    Ok(())
}

/// Writes a new PIN hash, clearing any count or lock (a new PIN starts fresh).
async fn store(
    txn: &DatabaseTransaction,
    user_id: Uuid,
    pin_hash: String,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    user_pin::Entity::insert(user_pin::ActiveModel {
        user_id: Set(user_id),
        pin_hash: Set(pin_hash),
        created_at: Set(now),
        updated_at: Set(now),
        failures: Set(0),
        lockouts: Set(0),
        locked_until: Set(None),
    })
    .on_conflict(
        OnConflict::column(user_pin::Column::UserId)
            .update_columns([
                user_pin::Column::PinHash,
                user_pin::Column::UpdatedAt,
                user_pin::Column::Failures,
                user_pin::Column::Lockouts,
                user_pin::Column::LockedUntil,
            ])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Checks the member's PIN and opens a step-up window for this session in this org.
pub async fn verify(st: &AppState, m: &OrgMember, pin: String) -> ApiResult<PinStepUp> {
    let Principal::User(me) = &m.principal else {
        return Err(ApiError::with_detail(
            ErrorKind::Forbidden,
            "an API key cannot enter a PIN; an owner or admin can give a key the `sensitive` scope",
        ));
    };
    if !pin_well_formed(&pin) {
        return Err(ApiError::field("pin", "exactly 6 digits"));
    }
    let row = user_pin::Entity::find_by_id(me.user.id)
        .one(&st.db)
        .await?
        .ok_or_else(|| {
            ApiError::with_detail(
                ErrorKind::PinNotSet,
                "you have no PIN yet: set one (PUT /api/v1/me/pin)",
            )
        })?;
    let ctx = Context::from(m);
    check_answer(st, &ctx, &me.user, pin, row.pin_hash, wrong_pin(st)).await?;
    let now = st.clock.now();
    let secs = std::cmp::Ord::max(st.config.security.pin_step_up_secs, 1);
    let expires_at = now + Duration::seconds(secs);
    let txn = crate::db::begin(&st.db).await?;
    pin_step_up::Entity::insert(pin_step_up::ActiveModel {
        session_id: Set(me.session_id),
        org_id: Set(m.org.id),
        expires_at: Set(expires_at),
    })
    .on_conflict(
        OnConflict::columns([pin_step_up::Column::SessionId, pin_step_up::Column::OrgId])
            .update_column(pin_step_up::Column::ExpiresAt)
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let event = Event::PinStepUpOpened {
        user_id: me.user.id,
        session_id: me.session_id,
        expires_at,
    };
    audit::record(&txn, &ctx, now, event).await?;
    txn.commit().await?;
    Ok(PinStepUp {
        expires_at,
        expires_in: secs as u64,
    })
}

/// Emails the caller a single-use link to set a new PIN, once their password is
/// right. Password tries are throttled like logins (per account).
pub async fn request_reset(st: &AppState, me: &CurrentUser, password: String) -> ApiResult<()> {
    let now = st.clock.now();
    accounts::confirm_password(st, &me.user, password, "password").await?;
    if !pin_set(&st.db, me.user.id).await? {
        return Err(ApiError::with_detail(
            ErrorKind::PinNotSet,
            "you have no PIN to reset: set one (PUT /api/v1/me/pin)",
        ));
    }
    let txn = crate::db::begin(&st.db).await?;
    if let throttle::Reservation::Refused { retry_after } =
        throttle::reserve_mail(&txn, &st.config.mail_limit, &me.user.email, None, now).await?
    {
        return Err(ApiError::too_many("emails to this address", retry_after));
    }
    let token = accounts::issue_token(
        &txn,
        me.user.id,
        TokenKind::PinReset,
        Duration::minutes(RESET_TTL_MINUTES),
        now,
    )
    .await?;
    jobs::mail::send(st, &txn, reset_email(st, &me.user.email, &token)).await?;
    txn.commit().await?;
    Ok(())
}

fn reset_email(st: &AppState, to: &str, token: &str) -> Email {
    Email {
        to: to.to_string(),
        subject: "Reset your Gatehouse PIN".into(),
        body: format!(
            "You asked to reset your PIN. Choose a new one by opening this link while signed in:\n\n{}/account/security/pin-reset?token={token}\n\nThe link is valid for {RESET_TTL_MINUTES} minutes and works once. If you did not ask for this, change your password: someone who knows it is signed in as you.\n",
            st.public_url
        ),
    }
}

/// Sets a new PIN with the emailed token, which must be the caller's own; the
/// lockout is lifted.
pub async fn confirm_reset(
    st: &AppState,
    me: &CurrentUser,
    body: PinResetConfirm,
) -> ApiResult<()> {
    let mut v = Validation::default();
    check_new_pin(&mut v, &body.pin, &body.confirm);
    v.finish()?;
    let pin_hash = hash(body.pin).await?;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let u = accounts::consume_token(&txn, TokenKind::PinReset, body.token.trim(), now).await?;
    if u.id != me.user.id {
        return Err(ApiError::with_detail(
            ErrorKind::TokenInvalid,
            "this link was sent to another account",
        ));
    }
    store(&txn, u.id, pin_hash, now).await?;
    let ctx = Context::from(me);
    audit::record(&txn, &ctx, now, Event::PinReset { user_id: u.id }).await?;
    txn.commit().await?;
    Ok(())
}

/// Validates a change of the org's PIN protection before anything is written: on
/// needs the acting person's own PIN set; off needs an open step-up window (else
/// whoever holds a session could switch it off and go ahead). Owners and admins who
/// are signed in only, never an API key. `Some(new)` when it changes.
pub async fn check_protection_change(
    st: &AppState,
    admin: &OrgAdmin,
    want: Option<bool>,
) -> ApiResult<Option<Change<bool>>> {
    let m = admin.member();
    let Some(want) = want else {
        return Ok(None);
    };
    let now_on = step_up::protection_on(&st.db, m.org.id).await?;
    if want == now_on {
        return Ok(None);
    }
    let Some(user) = m.user() else {
        return Err(ApiError::with_detail(
            ErrorKind::Forbidden,
            "PIN protection is switched by signed-in owners and admins, not by API keys",
        ));
    };
    if want {
        if !pin_set(&st.db, user.id).await? {
            return Err(ApiError::with_detail(
                ErrorKind::PinNotSet,
                "set your personal PIN (PUT /api/v1/me/pin) before turning PIN protection on",
            ));
        }
    } else {
        step_up::require(st, m).await?;
    }
    Ok(Some(Change {
        from: now_on,
        to: want,
    }))
}

/// Writes a checked change (see `check_protection_change`) in the caller's
/// transaction, with its audit event.
pub async fn apply_protection_change(
    txn: &DatabaseTransaction,
    admin: &OrgAdmin,
    change: Change<bool>,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let m = admin.member();
    if change.to {
        org_pin_protection::Entity::insert(org_pin_protection::ActiveModel {
            org_id: Set(m.org.id),
            enabled_by: Set(m.user_id()),
            enabled_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(org_pin_protection::Column::OrgId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    } else {
        org_pin_protection::Entity::delete_many()
            .filter(org_pin_protection::Column::OrgId.eq(m.org.id))
            .exec(txn)
            .await?;
    }
    let event = Event::PinProtectionChanged {
        org_id: m.org.id,
        pin_protection: change,
    };
    audit::record(txn, &Context::from(admin), now, event).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lockout_doubles_the_last_up_to_a_day() {
        let got: Vec<i64> = (1..=4).map(|n| lockout_secs(300, n)).collect();
        assert_eq!(got, [300, 600, 1200, 2400]);
        assert_eq!(lockout_secs(300, 40), MAX_LOCKOUT_SECS);
    }

    #[test]
    fn easy_pins_and_mismatches_are_refused() {
        let problems = |pin: &str, confirm: &str| {
            let mut v = Validation::default();
            check_new_pin(&mut v, pin, confirm);
            v.finish().err().map(|e| e.fields.len()).unwrap_or(0)
        };
        assert_eq!(problems("480913", "480913"), 0);
        for easy in [
            "000000",
            "123456",
            "987654",
            "12345",
            "1234567",
            "12a456",
            "１２３４５６",
        ] {
            assert_ne!(problems(easy, easy), 0, "{easy}");
        }
        assert_eq!(problems("480913", "480914"), 1);
    }
}
