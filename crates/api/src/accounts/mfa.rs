//! Whether a user has a second factor: a confirmed TOTP enrolment or at least one
//! passkey. Sign-in (second step), org MFA enforcement and the consent step all ask
//! here, so they can never disagree.
use crate::entity::{user_passkey, user_totp};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashSet;
use uuid::Uuid;

pub async fn has_mfa(db: &impl ConnectionTrait, user_id: Uuid) -> Result<bool, DbErr> {
    // One query when TOTP is on: a REST request in an org that requires MFA asks this.
    let totp = user_totp::Entity::find_by_id(user_id)
        .filter(user_totp::Column::ConfirmedAt.is_not_null())
        .one(db)
        .await?;
    if totp.is_some() {
        return Ok(true);
    }
    Ok(user_passkey::Entity::find()
        .filter(user_passkey::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .is_some())
}

/// The subset of `users` that have a second factor.
pub async fn with_mfa(db: &impl ConnectionTrait, users: &[Uuid]) -> Result<HashSet<Uuid>, DbErr> {
    if users.is_empty() {
        return Ok(HashSet::new());
    }
    let totp: Vec<Uuid> = user_totp::Entity::find()
        .select_only()
        .column(user_totp::Column::UserId)
        .filter(user_totp::Column::UserId.is_in(users.iter().copied()))
        .filter(user_totp::Column::ConfirmedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let passkeys: Vec<Uuid> = user_passkey::Entity::find()
        .select_only()
        .column(user_passkey::Column::UserId)
        .filter(user_passkey::Column::UserId.is_in(users.iter().copied()))
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    Ok(totp.into_iter().chain(passkeys).collect())
}

/// After a user removed a second factor: if they have none left, their OAuth grants in
/// every org that requires MFA end now, in the caller's transaction (as switching the
/// requirement on does), so losing MFA cannot keep a token the org would refuse to
/// grant. Returns the revoked grants, for `oauth::tokens::mark_revoked` after commit.
pub async fn end_grants_if_mfa_lost(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
    ctx: &crate::audit::Context,
) -> Result<Vec<Uuid>, DbErr> {
    use crate::entity::{membership, organization};
    if has_mfa(db, user_id).await? {
        return Ok(Vec::new());
    }
    let orgs: Vec<Uuid> = membership::Entity::find()
        .select_only()
        .column(membership::Column::OrgId)
        .filter(membership::Column::UserId.eq(user_id))
        .into_tuple()
        .all(db)
        .await?;
    let strict: Vec<Uuid> = organization::Entity::find()
        .select_only()
        .column(organization::Column::Id)
        .filter(organization::Column::Id.is_in(orgs))
        .filter(organization::Column::RequireMfa.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    let mut revoked = Vec::new();
    for org in strict {
        revoked.extend(
            crate::oauth::admin::revoke_users_grants(
                db,
                org,
                &[user_id],
                now,
                ctx,
                gatehouse_types::events::GrantEndReason::MfaRequired,
            )
            .await?,
        );
    }
    Ok(revoked)
}
