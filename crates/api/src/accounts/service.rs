//! Account rules shared by the REST handlers and the support CLI: what a new account
//! must satisfy, and creating it.
use super::{clean_display_name, insert_user, normalize_email};
use crate::{
    audit::{self, Context, Event},
    auth::Support,
    crypto,
    entity::user,
    http::{ApiError, ApiResult, problem::Validation},
    state::AppState,
};
use chrono::{DateTime, Utc};
use gatehouse_types::validation::password_problem;
use sea_orm::ConnectionTrait;

/// What someone asks for when an account is made.
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub password: String,
    pub display_name: Option<&'a str>,
}

/// A new account that passed the rules, its password already hashed.
pub struct CheckedAccount {
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
}

/// The sign-up rules, every problem at once: a valid email, an acceptable password, a
/// display name without control characters. Hashes the password (slow, off the async
/// threads) only when all pass.
pub async fn check_new_account(new: NewAccount<'_>) -> ApiResult<CheckedAccount> {
    let mut v = Validation::default();
    let email = normalize_email(new.email);
    if email.is_none() {
        v.push("email", "not a valid email address");
    }
    if let Some(p) = password_problem(&new.password) {
        v.push("password", p);
    }
    let display_name = clean_display_name(&mut v, new.display_name);
    v.finish()?;
    let password_hash = crypto::hash_password_blocking(new.password)
        .await
        .map_err(ApiError::internal)?;
    Ok(CheckedAccount {
        email: email.unwrap_or_default(),
        display_name,
        password_hash,
    })
}

/// Creates the account in the caller's transaction (`email-taken` when the address
/// has one). `verified_at`: when the address was proven, if it was.
pub async fn create_account<C: ConnectionTrait>(
    db: &C,
    account: CheckedAccount,
    verified_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ApiResult<user::Model> {
    insert_user(
        db,
        &account.email,
        &account.display_name,
        account.password_hash,
        verified_at,
        now,
    )
    .await
}

/// Support: creates a user from the command line, verified or not, under the same
/// rules as sign-up.
pub async fn create_user(
    st: &AppState,
    _: &Support,
    new: NewAccount<'_>,
    verified: bool,
) -> ApiResult<user::Model> {
    let account = check_new_account(new).await?;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let u = create_account(&txn, account, verified.then_some(now), now).await?;
    audit::record(
        &txn,
        &Context::system(),
        now,
        Event::UserCreated { user_id: u.id },
    )
    .await?;
    txn.commit().await?;
    Ok(u)
}
