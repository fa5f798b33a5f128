//! Access tokens: Ed25519-signed JWTs (keys in the database, shared by replicas, all
//! unretired keys published in the JWKS so a rotation breaks nothing in flight), and the
//! revocation set that lets the MCP endpoint refuse a revoked grant's tokens within
//! seconds without a database round trip per request.
use crate::{
    entity::{oauth_grant, oauth_signing_key},
    state::AppState,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
    time::Instant,
};
use uuid::Uuid;

pub const ACCESS_TOKEN_SECS: i64 = 3600;
/// How often each replica re-reads revoked grants and signing keys. A revocation
/// reaches every replica within this (plus the read), well inside the promised 5 s.
pub const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// If the revocation set has not been refreshed for this long (database trouble), the
/// MCP endpoint asks the database instead of trusting it.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user.
    pub sub: Uuid,
    /// The org's canonical MCP URL.
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    pub client_id: String,
    pub scope: String,
    pub org: Uuid,
    /// The grant (refresh-token family) the token belongs to.
    pub gid: Uuid,
}

struct Keys {
    kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    jwks: Value,
}

pub struct OAuthState {
    keys: RwLock<Option<Keys>>,
    revoked: RwLock<(HashSet<Uuid>, Option<Instant>)>,
    /// Access tokens whose signature already checked out, by SHA-256 of the token: an
    /// Ed25519 verification costs about 50 µs, and a client sends the same token for an
    /// hour. Expiry, audience and revocation are still checked on every request.
    verified: RwLock<HashMap<[u8; 32], Arc<Claims>>>,
    pub clients: super::clients::ClientCache,
    /// `private_key_jwt` clients' key sets fetched from their `jwks_uri`.
    pub jwks: super::assertion::JwksCache,
}

/// After this long no access token issued before it can still be valid (an hour's
/// lifetime plus slack for clock skew between replicas).
const TOKEN_SETTLED_SECS: i64 = ACCESS_TOKEN_SECS + 300;

/// Entries kept before expired ones are swept (and, if that is not enough, all dropped).
const VERIFIED_CAP: usize = 50_000;

impl Default for OAuthState {
    fn default() -> Self {
        OAuthState {
            keys: RwLock::new(None),
            revoked: RwLock::new((HashSet::new(), None)),
            verified: RwLock::new(HashMap::new()),
            clients: Default::default(),
            jwks: Default::default(),
        }
    }
}

fn new_key_row(
    st: &AppState,
    now: DateTime<Utc>,
) -> anyhow::Result<oauth_signing_key::ActiveModel> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use rand::RngCore;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let der = key
        .to_pkcs8_der()
        .map_err(|e| anyhow::anyhow!("pkcs8: {e}"))?;
    let public = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
    Ok(oauth_signing_key::ActiveModel {
        kid: Set(format!("k{}", &Uuid::now_v7().simple().to_string()[..16])),
        private_enc: Set(st.cipher.encrypt(der.as_bytes())?),
        public_x: Set(public),
        created_at: Set(now),
        retired_at: Set(None),
    })
}

/// Adds a new signing key. Every replica signs with it from its next refresh (within
/// `REFRESH_EVERY`); older keys stay published until their last tokens have expired,
/// then `retire_superseded` retires them. Returns the new key id.
pub async fn rotate(st: &AppState) -> anyhow::Result<String> {
    let now = st.clock.now();
    let row = new_key_row(st, now)?;
    let kid = row.kid.clone().unwrap();
    let txn = crate::db::begin(&st.db).await?;
    oauth_signing_key::Entity::insert(row)
        .exec_without_returning(&txn)
        .await?;
    crate::audit::record(
        &txn,
        &crate::audit::Context::system(),
        now,
        crate::audit::Event::OAuthSigningKeyRotated { kid: kid.clone() },
    )
    .await?;
    txn.commit().await?;
    Ok(kid)
}

/// Retires the keys that a newer key replaced long enough ago that no token they signed
/// can still be valid. Returns how many it retired.
pub async fn retire_superseded<C: sea_orm::ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<u64, sea_orm::DbErr> {
    let settled = now - Duration::seconds(TOKEN_SETTLED_SECS);
    // The newest key that has signed for longer than a token lives: all older ones go.
    let Some(anchor) = oauth_signing_key::Entity::find()
        .filter(oauth_signing_key::Column::RetiredAt.is_null())
        .filter(oauth_signing_key::Column::CreatedAt.lte(settled))
        .order_by_desc(oauth_signing_key::Column::CreatedAt)
        .one(db)
        .await?
    else {
        return Ok(0);
    };
    Ok(oauth_signing_key::Entity::update_many()
        .col_expr(
            oauth_signing_key::Column::RetiredAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(oauth_signing_key::Column::RetiredAt.is_null())
        .filter(oauth_signing_key::Column::CreatedAt.lt(anchor.created_at))
        .exec(db)
        .await?
        .rows_affected)
}

/// Reads the signing keys (creating the first one) and the recently revoked grants.
pub async fn refresh(st: &AppState) -> anyhow::Result<()> {
    let now = st.clock.now();
    let mut rows = oauth_signing_key::Entity::find()
        .filter(oauth_signing_key::Column::RetiredAt.is_null())
        .order_by_desc(oauth_signing_key::Column::CreatedAt)
        .all(&st.db)
        .await?;
    if rows.is_empty() {
        // Two replicas starting at once may both create one: both are published.
        oauth_signing_key::Entity::insert(new_key_row(st, now)?)
            .exec_without_returning(&st.db)
            .await?;
        rows = oauth_signing_key::Entity::find()
            .filter(oauth_signing_key::Column::RetiredAt.is_null())
            .order_by_desc(oauth_signing_key::Column::CreatedAt)
            .all(&st.db)
            .await?;
    }
    let current = st
        .oauth
        .keys
        .read()
        .ok()
        .and_then(|k| k.as_ref().map(|k| k.kid.clone()));
    let newest = rows.first().map(|r| r.kid.clone());
    let known: Option<HashSet<String>> = st
        .oauth
        .keys
        .read()
        .ok()
        .and_then(|k| k.as_ref().map(|k| k.verifying.keys().cloned().collect()));
    let listed: HashSet<String> = rows.iter().map(|r| r.kid.clone()).collect();
    if current != newest || known.as_ref() != Some(&listed) {
        let signer = rows
            .first()
            .ok_or_else(|| anyhow::anyhow!("no signing key"))?;
        let der = st.cipher.decrypt(&signer.private_enc)?;
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        for r in &rows {
            verifying.insert(r.kid.clone(), DecodingKey::from_ed_components(&r.public_x)?);
            jwks.push(json!({"kty": "OKP", "crv": "Ed25519", "x": r.public_x, "kid": r.kid, "alg": "EdDSA", "use": "sig"}));
        }
        let keys = Keys {
            kid: signer.kid.clone(),
            signing: EncodingKey::from_ed_der(&der),
            verifying,
            jwks: json!({"keys": jwks}),
        };
        if let Ok(mut k) = st.oauth.keys.write() {
            *k = Some(keys);
        }
        // A retired key's tokens must be checked against the new key set.
        if let Ok(mut v) = st.oauth.verified.write() {
            v.clear();
        }
    }
    // Tokens live an hour: older revocations can no longer matter.
    let cutoff = now - Duration::seconds(TOKEN_SETTLED_SECS);
    let revoked: HashSet<Uuid> = oauth_grant::Entity::find()
        .filter(oauth_grant::Column::RevokedAt.gt(cutoff))
        .all(&st.db)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect();
    if let Ok(mut r) = st.oauth.revoked.write() {
        *r = (revoked, Some(Instant::now()));
    }
    Ok(())
}

/// Reloads the signing keys and the revocation set on every replica.
pub fn periodic() -> crate::jobs::Periodic {
    crate::jobs::Periodic {
        name: "oauth.refresh_keys",
        every: REFRESH_EVERY,
        run: |st| Box::pin(refresh(st)),
    }
}

pub fn jwks(st: &AppState) -> Value {
    st.oauth
        .keys
        .read()
        .ok()
        .and_then(|k| k.as_ref().map(|k| k.jwks.clone()))
        .unwrap_or_else(|| json!({"keys": []}))
}

/// This replica learns of its own revocations at once.
pub fn mark_revoked(st: &AppState, grants: impl IntoIterator<Item = Uuid>) {
    if let Ok(mut r) = st.oauth.revoked.write() {
        r.0.extend(grants);
    }
}

async fn keys_ready(st: &AppState) -> anyhow::Result<()> {
    let ready = st.oauth.keys.read().map(|k| k.is_some()).unwrap_or(false);
    if !ready {
        refresh(st).await?;
    }
    Ok(())
}

/// Signs an access token for a grant; it never outlives the grant.
pub async fn issue(
    st: &AppState,
    grant: &oauth_grant::Model,
    client_id: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<(String, i64)> {
    keys_ready(st).await?;
    let exp = (now + Duration::seconds(ACCESS_TOKEN_SECS)).min(grant.expires_at);
    let claims = Claims {
        iss: st.public_url.clone(),
        sub: grant.user_id,
        aud: grant.resource.clone(),
        exp: exp.timestamp(),
        iat: now.timestamp(),
        jti: Uuid::now_v7(),
        client_id: client_id.to_string(),
        scope: grant.scope.clone(),
        org: grant.org_id,
        gid: grant.id,
    };
    let guard = st
        .oauth
        .keys
        .read()
        .map_err(|_| anyhow::anyhow!("key lock poisoned"))?;
    let keys = guard
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no signing key"))?;
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(keys.kid.clone());
    header.typ = Some("at+jwt".into());
    let token = jsonwebtoken::encode(&header, &claims, &keys.signing)?;
    Ok((token, (exp - now).num_seconds().max(0)))
}

/// Decodes a token signed by one of our keys, under `v`.
fn decode(st: &AppState, token: &str, v: &Validation) -> Option<Claims> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.alg != Algorithm::EdDSA {
        return None;
    }
    let guard = st.oauth.keys.read().ok()?;
    let key = guard.as_ref()?.verifying.get(header.kid.as_deref()?)?;
    jsonwebtoken::decode::<Claims>(token, key, v)
        .ok()
        .map(|d| d.claims)
}

/// Checks signature, issuer, audience and expiry; `None` for any failure.
pub fn verify(st: &AppState, token: &str, audience: &str) -> Option<Arc<Claims>> {
    let now = st.clock.now().timestamp();
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let cached = st
        .oauth
        .verified
        .read()
        .ok()
        .and_then(|m| m.get(&digest).cloned());
    let claims = match cached {
        Some(c) => c,
        None => {
            // Audience is checked below, against the cached claims too.
            let mut v = Validation::new(Algorithm::EdDSA);
            v.validate_aud = false;
            v.set_issuer(&[st.public_url.as_str()]);
            v.leeway = 0;
            v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
            let c = Arc::new(decode(st, token, &v)?);
            if let Ok(mut m) = st.oauth.verified.write() {
                if m.len() >= VERIFIED_CAP {
                    m.retain(|_, c| c.exp > now);
                    if m.len() >= VERIFIED_CAP {
                        m.clear();
                    }
                }
                m.insert(digest, c.clone());
            }
            c
        }
    };
    (claims.aud == audience && claims.exp > now).then_some(claims)
}

/// Whether the grant was revoked: from the replica's set when it is fresh, from the
/// database otherwise.
pub async fn is_revoked(st: &AppState, grant: Uuid) -> bool {
    if let Ok(r) = st.oauth.revoked.read()
        && r.1.is_some_and(|at| at.elapsed() < STALE_AFTER)
    {
        return r.0.contains(&grant);
    }
    match oauth_grant::Entity::find_by_id(grant).one(&st.db).await {
        Ok(Some(g)) => g.revoked_at.is_some(),
        Ok(None) => true,
        Err(e) => {
            tracing::warn!(error = %e, "checking a grant failed; refusing its token");
            true
        }
    }
}

/// The grant of an access token signed by us, whatever its audience or expiry (for
/// revocation).
pub fn grant_of(st: &AppState, token: &str) -> Option<Uuid> {
    let mut v = Validation::new(Algorithm::EdDSA);
    v.validate_aud = false;
    v.validate_exp = false;
    v.set_required_spec_claims::<&str>(&[]);
    decode(st, token, &v).map(|c| c.gid)
}
