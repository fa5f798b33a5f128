//! Organization rules callable from handlers, the support CLI and jobs.
use super::{slug_exists, slug_problem, slug_taken};
use crate::{
    audit::{self, Context, Event, change},
    auth::{OrgAdmin, Support},
    entity::organization,
    http::{ApiError, ApiResult, ErrorKind},
    state::AppState,
    unit_of_work::UnitOfWork,
};
use gatehouse_types::events::Change;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};

/// Sets the name and/or description the admin's org (values already checked). Returns
/// the org unchanged, without a write, when nothing differs.
pub async fn update(
    st: &AppState,
    admin: &OrgAdmin,
    name: Option<String>,
    description: Option<String>,
) -> ApiResult<organization::Model> {
    let org = &admin.0.org;
    let name_change = name.and_then(|n| change(org.name.clone(), n));
    let description_change = description.and_then(|d| change(org.description.clone(), d));
    if name_change.is_none() && description_change.is_none() {
        return Ok(org.clone());
    }
    let now = st.clock.now();
    let mut uow = UnitOfWork::begin(st).await?;
    let mut am = org.clone().into_active_model();
    if let Some(c) = &name_change {
        am.name = Set(c.to.clone());
    }
    if let Some(c) = &description_change {
        am.description = Set(c.to.clone());
    }
    am.updated_at = Set(now);
    let org = am.update(uow.txn()).await?;
    audit::record(
        uow.txn(),
        &Context::from(admin),
        now,
        Event::OrgUpdated {
            org_id: org.id,
            name: name_change,
            description: description_change,
        },
    )
    .await?;
    // Cached API keys carry their org (name, slug).
    uow.touch_keys().await?;
    uow.commit().await?;
    Ok(org)
}

/// Support-only slug change (`gatehouse admin rename-slug`): every URL and API path of
/// the org contains the slug, so users cannot change it.
pub async fn change_slug(
    st: &AppState,
    _: &Support,
    old: &str,
    new: &str,
) -> ApiResult<organization::Model> {
    if let Some(p) = slug_problem(new) {
        return Err(ApiError::field("slug", p));
    }
    let now = st.clock.now();
    let mut uow = UnitOfWork::begin(st).await?;
    let org = organization::Entity::find()
        .filter(organization::Column::Slug.eq(old))
        .one(uow.txn())
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    if slug_exists(uow.txn(), new).await? {
        return Err(ApiError::new(ErrorKind::SlugTaken));
    }
    let mut am = org.into_active_model();
    am.slug = Set(new.to_string());
    am.updated_at = Set(now);
    let org = am.update(uow.txn()).await.map_err(slug_taken)?;
    audit::record(
        uow.txn(),
        &Context::system().in_org(org.id),
        now,
        Event::OrgSlugChanged {
            org_id: org.id,
            slug: Change {
                from: old.to_string(),
                to: new.to_string(),
            },
        },
    )
    .await?;
    // Cached API keys carry their org (name, slug).
    uow.touch_keys().await?;
    uow.commit().await?;
    Ok(org)
}
