//! Group commit for the token endpoint. Requests that arrive together are decided in one
//! write transaction with a handful of multi-row statements (read the codes or tokens,
//! check them, claim, insert, audit), so each statement, SQLite's single writer and the
//! commit are paid per batch instead of per request. Reading inside the write
//! transaction keeps every check consistent with the write it guards.
use super::OAuthError;
use crate::{
    audit::{self, Context, Event},
    entity::{
        audit_event, membership, oauth_client, oauth_code, oauth_grant, oauth_refresh_token,
        organization, user,
    },
    http::ClientMeta,
    state::AppState,
};
use chrono::{DateTime, Duration, Utc};
use futures_util::FutureExt;
use gatehouse_types::RefreshTokenLifetime;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    sea_query::{CaseStatement, Expr, ExprTrait, Query},
};
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// Requests per transaction at most.
const MAX_BATCH: usize = 64;
/// Batches in flight at once on PostgreSQL (SQLite has one writer): up to this many,
/// and never more than half the connection pool, so other work always finds one.
const PG_WORKERS: u32 = 8;
/// `last_used_at` is for people: a minute's precision saves writes.
const TOUCH_AFTER_SECS: i64 = 60;

pub enum Op {
    /// A dynamic client registration.
    Register(Box<oauth_client::ActiveModel>),
    /// An authorization code for a new grant, its first refresh token and its audit event.
    Exchange(Box<Exchange>),
    /// A refresh token for its successor.
    Refresh(Box<Refresh>),
}

pub struct Exchange {
    pub code_hash: String,
    pub client: oauth_client::Model,
    pub verifier: String,
    pub redirect_uri: Option<String>,
    pub resource: Option<String>,
    /// The hash of the refresh token the grant starts with.
    pub refresh_hash: String,
    pub meta: ClientMeta,
}

pub struct Refresh {
    pub token_hash: String,
    pub client_id: Uuid,
    /// The hash of its successor.
    pub next_hash: String,
}

pub enum Outcome {
    /// The grant the exchange created or the refresh continued.
    Granted(Box<oauth_grant::Model>),
    Registered,
    Refused(OAuthError),
    /// A code used before: the caller revokes what its first use issued.
    CodeReplayed,
    /// A rotated refresh token used after the grace window: the caller ends the family.
    TokenReused(Box<oauth_grant::Model>),
}

struct Job {
    op: Op,
    reply: oneshot::Sender<Result<Outcome, DbErr>>,
}

pub struct Batcher {
    tx: mpsc::Sender<Job>,
    rx: std::sync::Mutex<Option<mpsc::Receiver<Job>>>,
}

impl Default for Batcher {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(4096);
        Batcher {
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
        }
    }
}

impl Batcher {
    /// Queues `op` and waits for the commit of the batch that carried it.
    pub async fn run(&self, op: Op) -> Result<Outcome, DbErr> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { op, reply })
            .await
            .map_err(|_| DbErr::Custom("the write queue is closed".into()))?;
        answer
            .await
            .map_err(|_| DbErr::Custom("the write queue dropped a request".into()))?
    }
}

/// Starts the workers that drain the queue (once per process state).
pub fn spawn(st: actix_web::web::Data<AppState>) {
    let Some(rx) = st.batch.rx.lock().ok().and_then(|mut r| r.take()) else {
        return;
    };
    let rx = Arc::new(Mutex::new(rx));
    let workers = if st.write_lock.is_some() {
        1
    } else {
        (st.config.database_max_connections / 2).clamp(1, PG_WORKERS)
    };
    for _ in 0..workers {
        let (st, rx) = (st.clone(), rx.clone());
        tokio::spawn(async move {
            loop {
                let mut jobs = Vec::new();
                {
                    let mut rx = rx.lock().await;
                    if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
                        return;
                    }
                }
                // A panic in one batch fails its requests (their replies drop), not
                // every later one.
                let _ = std::panic::AssertUnwindSafe(work(&st, jobs))
                    .catch_unwind()
                    .await;
            }
        });
    }
}

async fn work(st: &AppState, jobs: Vec<Job>) {
    let _turn = st.write_turn().await;
    let ops: Vec<&Op> = jobs.iter().map(|j| &j.op).collect();
    match apply(st, &ops).await {
        Ok(outcomes) => {
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                let _ = job.reply.send(Ok(outcome));
            }
        }
        // One bad request (say, a client deleted under its exchange) must not fail the
        // others: retry each on its own.
        Err(_) if jobs.len() > 1 => {
            for job in jobs {
                let r = apply(st, &[&job.op]).await.map(|mut o| o.remove(0));
                let _ = job.reply.send(r);
            }
        }
        Err(e) => {
            if let Some(job) = jobs.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
        }
    }
}

async fn apply(st: &AppState, ops: &[&Op]) -> Result<Vec<Outcome>, DbErr> {
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let mut outcomes: Vec<Option<Outcome>> = ops.iter().map(|_| None).collect();

    let mut clients = Vec::new();
    let mut exchanges = Vec::new();
    let mut refreshes = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Register(c) => {
                clients.push((**c).clone());
                outcomes[i] = Some(Outcome::Registered);
            }
            Op::Exchange(e) => exchanges.push((i, &**e)),
            Op::Refresh(r) => refreshes.push((i, &**r)),
        }
    }
    if !clients.is_empty() {
        oauth_client::Entity::insert_many(clients)
            .exec_without_returning(&txn)
            .await?;
    }
    if !exchanges.is_empty() {
        exchange(&txn, now, &exchanges, &mut outcomes).await?;
    }
    if !refreshes.is_empty() {
        let grace = Duration::seconds(st.config.oauth.refresh_grace_secs);
        refresh(&txn, now, grace, &refreshes, &mut outcomes).await?;
    }
    txn.commit().await?;
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Refused(OAuthError::invalid_grant("not processed"))))
        .collect())
}

fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use sha2::{Digest, Sha256};
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    valid
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()))
                .as_bytes(),
            challenge.as_bytes(),
        ))
}

/// What an exchange must not get past; a refusal leaves the code unused.
fn check_code(
    e: &Exchange,
    row: Option<&oauth_code::Model>,
    now: DateTime<Utc>,
) -> Result<(), Outcome> {
    let refuse = |err| Err(Outcome::Refused(err));
    let Some(row) = row else {
        return refuse(OAuthError::invalid_grant("unknown or expired code"));
    };
    if row.used_at.is_some() {
        return Err(Outcome::CodeReplayed);
    }
    if row.expires_at <= now || row.client_id != e.client.id {
        return refuse(OAuthError::invalid_grant("unknown or expired code"));
    }
    if e.redirect_uri
        .as_deref()
        .is_some_and(|r| r != row.redirect_uri)
    {
        return refuse(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    if e.resource
        .as_deref()
        .is_some_and(|r| super::normalize_resource(r) != super::normalize_resource(&row.resource))
    {
        return refuse(OAuthError::bad_request(
            "invalid_target",
            "resource does not match the authorization request",
        ));
    }
    if !pkce_ok(&e.verifier, &row.code_challenge) {
        return refuse(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    Ok(())
}

/// (org, user) → (the org's refresh-token lifetime, the user's email), for users who are
/// still members of live orgs.
/// What a grant needs to know of a code's (org, user): the org's refresh-token
/// lifetime, the user's email, and whether the org requires MFA.
struct Member {
    lifetime: String,
    email: String,
    require_mfa: bool,
}

async fn memberships(
    txn: &DatabaseTransaction,
    pairs: &HashSet<(Uuid, Uuid)>,
) -> Result<HashMap<(Uuid, Uuid), Member>, DbErr> {
    let q = Query::select()
        .column((organization::Entity, organization::Column::Id))
        .column((membership::Entity, membership::Column::UserId))
        .column((
            organization::Entity,
            organization::Column::RefreshTokenLifetime,
        ))
        .column((organization::Entity, organization::Column::RequireMfa))
        .column((user::Entity, user::Column::Email))
        .from(organization::Entity)
        .inner_join(
            membership::Entity,
            Expr::col((membership::Entity, membership::Column::OrgId))
                .equals((organization::Entity, organization::Column::Id)),
        )
        .inner_join(
            user::Entity,
            Expr::col((user::Entity, user::Column::Id))
                .equals((membership::Entity, membership::Column::UserId)),
        )
        .and_where(
            Expr::col((organization::Entity, organization::Column::Id))
                .is_in(pairs.iter().map(|p| p.0).collect::<HashSet<_>>()),
        )
        .and_where(
            Expr::col((membership::Entity, membership::Column::UserId))
                .is_in(pairs.iter().map(|p| p.1).collect::<HashSet<_>>()),
        )
        .and_where(crate::auth::org_ref::live())
        // PostgreSQL: a removal waits for this grant to commit, then revokes it too.
        .lock_shared()
        .to_owned();
    let mut found = HashMap::new();
    for row in txn.query_all(&q).await? {
        found.insert(
            (
                row.try_get::<Uuid>("", "id")?,
                row.try_get::<Uuid>("", "user_id")?,
            ),
            Member {
                lifetime: row.try_get("", "refresh_token_lifetime")?,
                email: row.try_get("", "email")?,
                require_mfa: row.try_get("", "require_mfa")?,
            },
        );
    }
    Ok(found)
}

async fn exchange(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    batch: &[(usize, &Exchange)],
    outcomes: &mut [Option<Outcome>],
) -> Result<(), DbErr> {
    let codes: HashMap<String, oauth_code::Model> = oauth_code::Entity::find()
        .filter(oauth_code::Column::CodeHash.is_in(batch.iter().map(|(_, e)| e.code_hash.as_str())))
        .all(txn)
        .await?
        .into_iter()
        .map(|c| (c.code_hash.clone(), c))
        .collect();
    let mut passed = Vec::new();
    let mut seen = HashSet::new();
    for (i, e) in batch {
        match check_code(e, codes.get(&e.code_hash), now) {
            // The same code twice in one batch: the first wins.
            Ok(()) if !seen.insert(e.code_hash.as_str()) => {
                outcomes[*i] = Some(Outcome::CodeReplayed)
            }
            Ok(()) => passed.push((*i, *e, &codes[&e.code_hash])),
            Err(o) => outcomes[*i] = Some(o),
        }
    }
    if passed.is_empty() {
        return Ok(());
    }
    let pairs = passed
        .iter()
        .map(|(_, _, c)| (c.org_id, c.user_id))
        .collect();
    let members = memberships(txn, &pairs).await?;
    // Consent checked MFA when the code was issued; the org may have switched the
    // requirement on (or the user lost their factor) since, and a grant must not
    // outlive a revocation that ran before it existed. The org row is share-locked
    // above, so a switch either waits for this grant (and revokes it) or is seen here.
    let strict: Vec<Uuid> = members
        .iter()
        .filter(|(_, m)| m.require_mfa)
        .map(|((_, user), _)| *user)
        .collect();
    let with_mfa = crate::accounts::mfa::with_mfa(txn, &strict).await?;
    let mut grants = Vec::new();
    for (i, e, code) in passed {
        let Some(Member {
            lifetime,
            email,
            require_mfa,
        }) = members.get(&(code.org_id, code.user_id))
        else {
            outcomes[i] = Some(Outcome::Refused(OAuthError::invalid_grant(
                "the user can no longer grant access to this organization",
            )));
            continue;
        };
        if *require_mfa && !with_mfa.contains(&code.user_id) {
            outcomes[i] = Some(Outcome::Refused(OAuthError::invalid_grant(
                "this organization requires two-factor authentication, which the user has not set up",
            )));
            continue;
        }
        let days = RefreshTokenLifetime::parse(lifetime)
            .unwrap_or(RefreshTokenLifetime::Default)
            .days();
        let grant = oauth_grant::Model {
            id: Uuid::now_v7(),
            org_id: code.org_id,
            user_id: code.user_id,
            client_id: e.client.id,
            scope: code.scope.clone(),
            resource: code.resource.clone(),
            created_at: now,
            expires_at: now + Duration::days(days.into()),
            revoked_at: None,
            last_used_at: Some(now),
        };
        let ctx =
            Context::user_id(code.user_id, email.clone(), e.meta.clone()).in_org(grant.org_id);
        let event = audit::row(
            &ctx,
            now,
            &Event::OAuthGrantCreated {
                grant_id: grant.id,
                client_id: e.client.client_id.clone(),
                client_name: e.client.name.clone(),
                scope: grant.scope.clone(),
                refresh_token_days: days,
                expires_at: grant.expires_at,
            },
        );
        grants.push((i, e, grant, event));
    }
    if grants.is_empty() {
        return Ok(());
    }
    // Claim the codes. Within this transaction SQLite cannot lose a race; PostgreSQL
    // can (another replica), and then the row it claimed does not come back.
    let mut case = CaseStatement::new();
    for (_, e, g, _) in &grants {
        case = case.case(
            Expr::col(oauth_code::Column::CodeHash).eq(e.code_hash.as_str()),
            g.id,
        );
    }
    let claim = Query::update()
        .table(oauth_code::Entity)
        .value(oauth_code::Column::UsedAt, now)
        .value(oauth_code::Column::GrantId, case)
        .and_where(
            oauth_code::Column::CodeHash
                .is_in(grants.iter().map(|(_, e, _, _)| e.code_hash.as_str())),
        )
        .and_where(oauth_code::Column::UsedAt.is_null())
        .returning_col(oauth_code::Column::CodeHash)
        .to_owned();
    let mut claimed = HashSet::new();
    for row in txn.query_all(&claim).await? {
        claimed.insert(row.try_get::<String>("", "code_hash")?);
    }
    let (mut rows, mut tokens, mut events, mut touched) =
        (Vec::new(), Vec::new(), Vec::new(), HashSet::new());
    for (i, e, grant, event) in grants {
        if !claimed.contains(&e.code_hash) {
            outcomes[i] = Some(Outcome::CodeReplayed);
            continue;
        }
        tokens.push(oauth_refresh_token::ActiveModel::from(
            oauth_refresh_token::Model {
                token_hash: e.refresh_hash.clone(),
                grant_id: grant.id,
                created_at: now,
                // Rotation never extends the grant.
                expires_at: grant.expires_at,
                rotated_at: None,
                revoked_at: None,
            },
        ));
        if e.client
            .last_used_at
            .is_none_or(|t| now - t > Duration::seconds(TOUCH_AFTER_SECS))
        {
            touched.insert(e.client.id);
        }
        rows.push(oauth_grant::ActiveModel::from(grant.clone()));
        events.push(event);
        outcomes[i] = Some(Outcome::Granted(Box::new(grant)));
    }
    if rows.is_empty() {
        return Ok(());
    }
    oauth_grant::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    oauth_refresh_token::Entity::insert_many(tokens)
        .exec_without_returning(txn)
        .await?;
    audit_event::Entity::insert_many::<audit_event::ActiveModel, _>(events)
        .exec_without_returning(txn)
        .await?;
    if !touched.is_empty() {
        oauth_client::Entity::update_many()
            .col_expr(oauth_client::Column::LastUsedAt, Expr::value(Some(now)))
            .filter(oauth_client::Column::Id.is_in(touched))
            .exec(txn)
            .await?;
    }
    Ok(())
}

async fn refresh(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    grace: Duration,
    batch: &[(usize, &Refresh)],
    outcomes: &mut [Option<Outcome>],
) -> Result<(), DbErr> {
    // Each token with its grant, in one statement.
    let mut tokens = HashMap::new();
    let mut grants = HashMap::new();
    for (t, g) in oauth_refresh_token::Entity::find()
        .filter(
            oauth_refresh_token::Column::TokenHash
                .is_in(batch.iter().map(|(_, r)| r.token_hash.as_str())),
        )
        .find_also_related(oauth_grant::Entity)
        .all(txn)
        .await?
    {
        if let Some(g) = g {
            grants.insert(g.id, g);
        }
        tokens.insert(t.token_hash.clone(), t);
    }
    let (mut rotated, mut next, mut touched) = (HashSet::new(), Vec::new(), HashSet::new());
    for (i, r) in batch {
        let found = tokens
            .get(&r.token_hash)
            .and_then(|t| Some((t, grants.get(&t.grant_id)?)));
        let Some((token, grant)) = found.filter(|(t, g)| {
            g.client_id == r.client_id
                && g.revoked_at.is_none()
                && t.revoked_at.is_none()
                && g.expires_at > now
                && t.expires_at > now
        }) else {
            outcomes[*i] = Some(Outcome::Refused(OAuthError::invalid_grant(
                "invalid, expired or revoked refresh token",
            )));
            continue;
        };
        // A token rotated before stays usable for the grace window, so parallel
        // refreshes by one client all succeed; after it, the use is a replay.
        if token.rotated_at.is_some_and(|t| now - t > grace) {
            outcomes[*i] = Some(Outcome::TokenReused(Box::new(grant.clone())));
            continue;
        }
        rotated.insert(r.token_hash.as_str());
        next.push(oauth_refresh_token::ActiveModel::from(
            oauth_refresh_token::Model {
                token_hash: r.next_hash.clone(),
                grant_id: grant.id,
                created_at: now,
                expires_at: grant.expires_at,
                rotated_at: None,
                revoked_at: None,
            },
        ));
        if grant
            .last_used_at
            .is_none_or(|t| now - t > Duration::seconds(TOUCH_AFTER_SECS))
        {
            touched.insert(grant.id);
        }
        outcomes[*i] = Some(Outcome::Granted(Box::new(grant.clone())));
    }
    if next.is_empty() {
        return Ok(());
    }
    // The first rotation time stays: the grace window counts from it.
    oauth_refresh_token::Entity::update_many()
        .col_expr(
            oauth_refresh_token::Column::RotatedAt,
            Expr::value(Some(now)),
        )
        .filter(oauth_refresh_token::Column::TokenHash.is_in(rotated))
        .filter(oauth_refresh_token::Column::RotatedAt.is_null())
        .exec(txn)
        .await?;
    oauth_refresh_token::Entity::insert_many(next)
        .exec_without_returning(txn)
        .await?;
    if !touched.is_empty() {
        oauth_grant::Entity::update_many()
            .col_expr(oauth_grant::Column::LastUsedAt, Expr::value(Some(now)))
            .filter(oauth_grant::Column::Id.is_in(touched))
            .exec(txn)
            .await?;
    }
    Ok(())
}
