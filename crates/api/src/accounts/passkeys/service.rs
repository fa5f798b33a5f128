//! Passkeys (WebAuthn, through `webauthn-rs`): the relying party, the registration
//! ceremony, renaming and removal, and checking a passkey at sign-in. Ceremony state is
//! kept in the database between the two calls of a ceremony (a registration in
//! `passkey_registrations`, a sign-in in the pending login's `challenge`), so the calls
//! may reach different replicas.
use crate::{
    audit::{self, Context, Event},
    auth::CurrentUser,
    crypto,
    crypto::TokenKind,
    entity::{passkey_registration, passkey_sign_in, user_passkey},
    http::{ApiError, ApiResult, ErrorKind, problem::Validation},
    jobs,
    mail::Email,
    state::AppState,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use gatehouse_types::{PASSKEY_NAME_MAX_CHARS, PasskeyOptions};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set, sea_query::Expr,
};
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Webauthn,
    WebauthnBuilder,
};

/// How long a ceremony's options stay good (the browser's own prompt times out sooner).
pub const CEREMONY_TTL_MINUTES: i64 = 5;
/// Enough for every device a person owns; bounds what one account can store.
pub const MAX_PASSKEYS: usize = 20;

/// The WebAuthn relying party of this server: RP id = the public URL's host, origin =
/// the public URL's origin. WebAuthn needs a domain name (browsers refuse an IP
/// address), so a server reached by address has passkeys switched off
/// (`passkeys-unavailable`, 409: a state of this server, not worth retrying).
pub struct RelyingParty {
    webauthn: Option<Webauthn>,
}

impl RelyingParty {
    pub fn new(public_url: &str) -> RelyingParty {
        let webauthn = url::Url::parse(public_url).ok().and_then(|origin| {
            let rp_id = origin.domain()?.to_string();
            WebauthnBuilder::new(&rp_id, &origin)
                .ok()?
                .rp_name("Gatehouse")
                .build()
                .ok()
        });
        if webauthn.is_none() {
            tracing::info!(
                public_url,
                "passkeys are off: the public URL's host is not a domain name"
            );
        }
        RelyingParty { webauthn }
    }

    fn get(&self) -> ApiResult<&Webauthn> {
        self.webauthn.as_ref().ok_or_else(|| {
            ApiError::with_detail(
                ErrorKind::PasskeysUnavailable,
                "WebAuthn does not work on an IP address; set `public_url` to a host name",
            )
        })
    }
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::with_detail(ErrorKind::PasskeyInvalid, detail)
}

/// The stored form of a credential id: base64url without padding, as WebAuthn's JSON
/// writes it.
fn credential_id(pk: &Passkey) -> String {
    URL_SAFE_NO_PAD.encode(pk.cred_id())
}

/// The signature counter stored with a passkey (webauthn-rs keeps it private; its
/// stored form is ours). A form without one is an error, not 0: reading 0 would switch
/// the clone check off.
fn signature_counter(pk: &Passkey) -> ApiResult<u32> {
    serde_json::to_value(pk)
        .ok()
        .and_then(|v| v["cred"]["counter"].as_u64())
        .and_then(|c| u32::try_from(c).ok())
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("stored passkey without a counter")))
}

fn decode(row: &user_passkey::Model) -> ApiResult<Passkey> {
    serde_json::from_str(&row.passkey).map_err(ApiError::internal)
}

/// A passkey's name, trimmed: 1 to 64 characters.
pub fn clean_name(raw: &str) -> ApiResult<String> {
    let mut v = Validation::default();
    let name = v.name("name", raw, PASSKEY_NAME_MAX_CHARS);
    v.finish()?;
    Ok(name)
}

pub async fn list<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<Vec<user_passkey::Model>, sea_orm::DbErr> {
    user_passkey::Entity::find()
        .filter(user_passkey::Column::UserId.eq(user_id))
        .order_by_asc(user_passkey::Column::CreatedAt)
        .order_by_asc(user_passkey::Column::Id)
        .all(db)
        .await
}

/// The caller's passkey `id`; another user's is as unknown as a missing one.
async fn find_own<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    id: Uuid,
) -> ApiResult<user_passkey::Model> {
    user_passkey::Entity::find_by_id(id)
        .filter(user_passkey::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("passkey"))
}

fn notice(st: &AppState, to: &str, what: &str) -> Email {
    Email {
        to: to.to_string(),
        subject: format!("Gatehouse: {what}"),
        body: format!(
            "{what} on your Gatehouse account.\n\nYou can review your passkeys under Account → Security:\n\n{}/account/security\n\nIf this was not you, change your password and remove any passkey you do not recognise.\n",
            st.public_url
        ),
    }
}

/// Starts a registration for the signed-in user: the options for
/// `navigator.credentials.create()`, excluding the passkeys they already have. The
/// ceremony belongs to this session and replaces one it started before.
pub async fn start_registration(st: &AppState, me: &CurrentUser) -> ApiResult<PasskeyOptions> {
    let wa = st.passkeys.get()?;
    let existing = list(&st.db, me.user.id).await?;
    if existing.len() >= MAX_PASSKEYS {
        return Err(ApiError::conflict(format!(
            "an account can have at most {MAX_PASSKEYS} passkeys; remove one first"
        )));
    }
    let exclude = existing
        .iter()
        .map(|row| decode(row).map(|pk| pk.cred_id().clone()))
        .collect::<ApiResult<Vec<_>>>()?;
    let display = if me.user.display_name.is_empty() {
        &me.user.email
    } else {
        &me.user.display_name
    };
    let (options, state) = wa
        .start_passkey_registration(me.user.id, &me.user.email, display, Some(exclude))
        .map_err(ApiError::internal)?;
    let state = serde_json::to_string(&state).map_err(ApiError::internal)?;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    passkey_registration::Entity::delete_by_id(me.session_id)
        .exec(&txn)
        .await?;
    passkey_registration::Entity::insert(passkey_registration::ActiveModel {
        session_id: Set(me.session_id),
        user_id: Set(me.user.id),
        state: Set(state),
        expires_at: Set(now + Duration::minutes(CEREMONY_TTL_MINUTES)),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    let mut options = to_options(&options)?;
    // webauthn-rs asks for a non-discoverable credential; passkey-only sign-in (no
    // email first) needs a discoverable one, so ask for it where the device can.
    if let Some(sel) = options.public_key.get_mut("authenticatorSelection") {
        sel["residentKey"] = serde_json::json!("preferred");
    }
    Ok(options)
}

fn to_options(options: &impl serde::Serialize) -> ApiResult<PasskeyOptions> {
    let mut v = serde_json::to_value(options).map_err(ApiError::internal)?;
    Ok(PasskeyOptions {
        public_key: v
            .get_mut("publicKey")
            .map(serde_json::Value::take)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("options without publicKey")))?,
    })
}

/// Takes this session's registration ceremony, once: whoever deletes the row owns it.
async fn take_registration(
    st: &AppState,
    me: &CurrentUser,
    now: DateTime<Utc>,
) -> ApiResult<PasskeyRegistration> {
    let Some(row) = passkey_registration::Entity::find_by_id(me.session_id)
        .filter(passkey_registration::Column::UserId.eq(me.user.id))
        .one(&st.db)
        .await?
    else {
        return Err(invalid(
            "no passkey registration is in progress; ask for new options",
        ));
    };
    let taken = passkey_registration::Entity::delete_many()
        .filter(passkey_registration::Column::SessionId.eq(row.session_id))
        .filter(passkey_registration::Column::State.eq(row.state.clone()))
        .exec(&st.db)
        .await?
        .rows_affected;
    if taken == 0 || row.expires_at <= now {
        return Err(invalid(
            "the passkey registration has expired; ask for new options",
        ));
    }
    serde_json::from_str(&row.state).map_err(ApiError::internal)
}

/// Finishes the session's registration with the browser's answer and stores the
/// passkey under `name`.
pub async fn finish_registration(
    st: &AppState,
    me: &CurrentUser,
    name: &str,
    credential: serde_json::Value,
) -> ApiResult<user_passkey::Model> {
    let name = clean_name(name)?;
    let wa = st.passkeys.get()?;
    let credential: RegisterPublicKeyCredential = serde_json::from_value(credential)
        .map_err(|_| invalid("`credential` is not a WebAuthn registration response"))?;
    let now = st.clock.now();
    let state = take_registration(st, me, now).await?;
    let pk = wa
        .finish_passkey_registration(&credential, &state)
        .map_err(|e| {
            tracing::info!(error = %e, "passkey registration refused");
            invalid(format!("the passkey could not be verified ({e})"))
        })?;
    let txn = crate::db::begin(&st.db).await?;
    if list(&txn, me.user.id).await?.len() >= MAX_PASSKEYS {
        return Err(ApiError::conflict(format!(
            "an account can have at most {MAX_PASSKEYS} passkeys; remove one first"
        )));
    }
    let row = user_passkey::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(me.user.id),
        name: Set(name.clone()),
        credential_id: Set(credential_id(&pk)),
        passkey: Set(serde_json::to_string(&pk).map_err(ApiError::internal)?),
        created_at: Set(now),
        last_used_at: Set(None),
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            ApiError::conflict("this passkey is already registered")
        }
        _ => e.into(),
    })?;
    audit::record(
        &txn,
        &Context::from(me),
        now,
        Event::PasskeyAdded {
            user_id: me.user.id,
            passkey_id: row.id,
            name: name.clone(),
        },
    )
    .await?;
    jobs::mail::send(
        st,
        &txn,
        notice(
            st,
            &me.user.email,
            &format!("A passkey \"{name}\" was added"),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn rename(
    st: &AppState,
    me: &CurrentUser,
    id: Uuid,
    name: &str,
) -> ApiResult<user_passkey::Model> {
    let name = clean_name(name)?;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let row = find_own(&txn, me.user.id, id).await?;
    if row.name == name {
        return Ok(row);
    }
    let old = row.name.clone();
    let mut am = row.into_active_model();
    am.name = Set(name.clone());
    let row = am.update(&txn).await?;
    audit::record(
        &txn,
        &Context::from(me),
        now,
        Event::PasskeyRenamed {
            user_id: me.user.id,
            passkey_id: row.id,
            name: gatehouse_types::events::Change {
                from: old.clone(),
                to: name.clone(),
            },
        },
    )
    .await?;
    jobs::mail::send(
        st,
        &txn,
        notice(
            st,
            &me.user.email,
            &format!("The passkey \"{old}\" was renamed to \"{name}\""),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Removes a passkey; the account password confirms it.
pub async fn remove(st: &AppState, me: &CurrentUser, id: Uuid, password: String) -> ApiResult<()> {
    find_own(&st.db, me.user.id, id).await?;
    crate::accounts::confirm_password(st, &me.user, password, "password").await?;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let row = find_own(&txn, me.user.id, id).await?;
    user_passkey::Entity::delete_by_id(row.id)
        .exec(&txn)
        .await?;
    let revoked =
        crate::accounts::mfa::end_grants_if_mfa_lost(&txn, me.user.id, now, &Context::from(me))
            .await?;
    audit::record(
        &txn,
        &Context::from(me),
        now,
        Event::PasskeyRemoved {
            user_id: me.user.id,
            passkey_id: row.id,
            name: row.name.clone(),
        },
    )
    .await?;
    jobs::mail::send(
        st,
        &txn,
        notice(
            st,
            &me.user.email,
            &format!("The passkey \"{}\" was removed", row.name),
        ),
    )
    .await?;
    txn.commit().await?;
    crate::oauth::tokens::mark_revoked(st, revoked);
    Ok(())
}

/// The options for `navigator.credentials.get()` with `user_id`'s passkeys, and the
/// state to keep until the answer comes back.
pub async fn start_authentication(
    st: &AppState,
    user_id: Uuid,
) -> ApiResult<(PasskeyOptions, String)> {
    let wa = st.passkeys.get()?;
    let passkeys = list(&st.db, user_id)
        .await?
        .iter()
        .map(decode)
        .collect::<ApiResult<Vec<_>>>()?;
    if passkeys.is_empty() {
        return Err(invalid("this account has no passkey"));
    }
    let (options, state) = wa
        .start_passkey_authentication(&passkeys)
        .map_err(ApiError::internal)?;
    let state = serde_json::to_string(&state).map_err(ApiError::internal)?;
    Ok((to_options(&options)?, state))
}

/// Checks the browser's answer against the kept `state`; on success records the use
/// (signature counter, last use) and returns the passkey's id. `None` when the answer
/// is refused.
pub async fn finish_authentication(
    st: &AppState,
    user_id: Uuid,
    state: &str,
    credential: serde_json::Value,
) -> ApiResult<Option<Uuid>> {
    let wa = st.passkeys.get()?;
    let Ok(credential) = serde_json::from_value::<PublicKeyCredential>(credential) else {
        return Ok(None);
    };
    let state: PasskeyAuthentication = serde_json::from_str(state).map_err(ApiError::internal)?;
    let result = match wa.finish_passkey_authentication(&credential, &state) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "passkey assertion refused");
            return Ok(None);
        }
    };
    record_use(st, user_id, &result).await
}

/// Records a verified use of one of `user_id`'s passkeys: refuses a signature counter
/// that does not pass the stored one, else stores the new counter and the time.
/// Returns the passkey's id, or `None` when refused.
async fn record_use(
    st: &AppState,
    user_id: Uuid,
    result: &AuthenticationResult,
) -> ApiResult<Option<Uuid>> {
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let Some(row) = user_passkey::Entity::find()
        .filter(user_passkey::Column::UserId.eq(user_id))
        .filter(user_passkey::Column::CredentialId.eq(URL_SAFE_NO_PAD.encode(result.cred_id())))
        .one(&txn)
        .await?
    else {
        // Removed between the options and the answer.
        return Ok(None);
    };
    // The state holds the counters of when the options were made; a use since then
    // (another sign-in) has moved the stored counter. A signature counter that does not
    // move past the stored one marks a cloned authenticator (WebAuthn § 7.2 step 21);
    // authenticators that keep no counter send 0 every time.
    let mut pk = decode(&row)?;
    let stored = signature_counter(&pk)?;
    if (result.counter() > 0 || stored > 0) && result.counter() <= stored {
        tracing::warn!(
            passkey_id = %row.id,
            "passkey signature counter did not advance: possibly a cloned authenticator"
        );
        return Ok(None);
    }
    pk.update_credential(result);
    let id = row.id;
    // Only over the version read: of two concurrent sign-ins with one counter value,
    // one wins.
    let n = user_passkey::Entity::update_many()
        .col_expr(
            user_passkey::Column::Passkey,
            Expr::value(serde_json::to_string(&pk).map_err(ApiError::internal)?),
        )
        .col_expr(user_passkey::Column::LastUsedAt, Expr::value(Some(now)))
        .filter(user_passkey::Column::Id.eq(id))
        .filter(user_passkey::Column::Passkey.eq(row.passkey))
        .exec(&txn)
        .await?
        .rows_affected;
    if n == 0 {
        return Ok(None);
    }
    txn.commit().await?;
    Ok(Some(id))
}

/// Starts a sign-in with a passkey alone: discoverable-credential options, and the
/// token of the ceremony (its state is stored under the token's hash).
pub async fn start_sign_in(st: &AppState) -> ApiResult<(String, PasskeyOptions)> {
    let wa = st.passkeys.get()?;
    let (options, state) = wa
        .start_discoverable_authentication()
        .map_err(ApiError::internal)?;
    let token = crypto::generate_token(TokenKind::PasskeySignIn);
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    passkey_sign_in::Entity::insert(passkey_sign_in::ActiveModel {
        token_hash: Set(crypto::hash_token(&token)),
        state: Set(serde_json::to_string(&state).map_err(ApiError::internal)?),
        expires_at: Set(now + Duration::minutes(CEREMONY_TTL_MINUTES)),
    })
    .exec_without_returning(&txn)
    .await?;
    // Nobody signs in with an expired one; anyone may start one, so they go at once.
    passkey_sign_in::Entity::delete_many()
        .filter(passkey_sign_in::Column::ExpiresAt.lte(now))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok((token, to_options(&options)?))
}

/// Finishes a sign-in with a passkey alone: uses the ceremony up, finds the user by the
/// passkey's user handle and verifies the answer against that user's passkeys. Returns
/// the user, or `None` when the answer is refused.
pub async fn finish_sign_in(
    st: &AppState,
    ceremony: &str,
    credential: serde_json::Value,
) -> ApiResult<Option<Uuid>> {
    let wa = st.passkeys.get()?;
    let ceremony = ceremony.trim();
    let unknown = || invalid("this passkey sign-in is unknown, used or expired; start again");
    if !crypto::token_is_well_formed(TokenKind::PasskeySignIn, ceremony) {
        return Err(unknown());
    }
    let hash = crypto::hash_token(ceremony);
    let now = st.clock.now();
    let Some(row) = passkey_sign_in::Entity::find_by_id(hash.clone())
        .one(&st.db)
        .await?
    else {
        return Err(unknown());
    };
    let taken = passkey_sign_in::Entity::delete_by_id(hash)
        .exec(&st.db)
        .await?
        .rows_affected;
    if taken == 0 || row.expires_at <= now {
        return Err(unknown());
    }
    let state: DiscoverableAuthentication =
        serde_json::from_str(&row.state).map_err(ApiError::internal)?;
    let Ok(credential) = serde_json::from_value::<PublicKeyCredential>(credential) else {
        return Ok(None);
    };
    // The user handle names the user, the credential id one of their passkeys; both are
    // the device's claim until the signature checks out against that passkey's key.
    let Ok((user_id, cred_id)) = wa.identify_discoverable_authentication(&credential) else {
        return Ok(None);
    };
    let Some(row) = user_passkey::Entity::find()
        .filter(user_passkey::Column::UserId.eq(user_id))
        .filter(user_passkey::Column::CredentialId.eq(URL_SAFE_NO_PAD.encode(cred_id)))
        .one(&st.db)
        .await?
    else {
        return Ok(None);
    };
    let pk = decode(&row)?;
    let result = match wa.finish_discoverable_authentication_v2(&credential, state, &pk) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "passkey sign-in refused");
            return Ok(None);
        }
    };
    Ok(record_use(st, user_id, &result).await?.map(|_| user_id))
}
