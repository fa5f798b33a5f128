//! `private_key_jwt` (RFC 7523 §2.2, RFC 7521): a metadata-document client proves
//! itself at the token endpoint with a JWT signed by a key its document publishes
//! (`jwks_uri`, fetched through the SSRF-safe outbound client, or inline `jwks`).
use super::OAuthError;
use crate::{
    crypto,
    entity::{oauth_client, oauth_client_assertion},
    state::AppState,
};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet},
};
use sea_orm::{EntityTrait, Set, sea_query::OnConflict};
use serde::Deserialize;
use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration as StdDuration, Instant},
};

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const SIGNING_ALGS: &[&str] = &["RS256", "ES256"];
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: i64 = 30;
/// Assertions are meant to be short-lived; a longer one would also have its `jti`
/// stored for longer.
const MAX_LIFETIME_SECS: i64 = 3600;
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// How long a fetched key set serves; an unknown `kid` refetches sooner (rotation).
const JWKS_TTL: StdDuration = StdDuration::from_secs(300);
const JWKS_REFETCH_AFTER: StdDuration = StdDuration::from_secs(10);

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    jti: String,
    nbf: Option<i64>,
    iat: Option<i64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn any(&self, f: impl Fn(&str) -> bool) -> bool {
        match self {
            Audience::One(a) => f(a),
            Audience::Many(v) => v.iter().any(|a| f(a)),
        }
    }
}

/// Key sets fetched from `jwks_uri`s, per replica.
#[derive(Default)]
pub struct JwksCache {
    map: RwLock<HashMap<String, (Instant, JwkSet)>>,
}

pub fn parse_jwks(text: &str) -> Result<JwkSet, String> {
    let set: JwkSet = serde_json::from_str(text).map_err(|e| format!("not a JWK Set: {e}"))?;
    if set.keys.is_empty() {
        return Err("the JWK Set holds no keys".into());
    }
    Ok(set)
}

/// A `jwks_uri` we are willing to fetch: https (or loopback http in development, as for
/// metadata documents), and an address the outbound policy allows.
pub async fn check_jwks_uri(st: &AppState, uri: &str) -> Result<url::Url, String> {
    let parsed = st
        .outbound
        .check_url(uri)
        .await
        .map_err(|e| format!("jwks_uri: {e}"))?;
    let loopback_ok = st.config.outbound.allow_loopback
        && parsed
            .host_str()
            .is_some_and(|h| matches!(h, "localhost" | "127.0.0.1" | "[::1]"));
    if parsed.scheme() != "https" && !loopback_ok {
        return Err("jwks_uri must be https".into());
    }
    Ok(parsed)
}

async fn fetch_jwks(st: &AppState, uri: &str) -> Result<JwkSet, String> {
    let url = check_jwks_uri(st, uri).await?;
    let resp = st
        .outbound
        .client()
        .get(url)
        .header("accept", "application/json")
        .timeout(StdDuration::from_secs(5))
        .send()
        .await
        .map_err(|_| "fetching the client's jwks_uri failed".to_string())?;
    if !resp.status().is_success() {
        return Err(format!(
            "the client's jwks_uri answered HTTP {}",
            resp.status().as_u16()
        ));
    }
    let bytes = st
        .outbound
        .read_limited(resp)
        .await
        .map_err(|e| e.to_string())?;
    if bytes.len() > MAX_JWKS_BYTES {
        return Err("the client's JWK Set is larger than 64 KiB".into());
    }
    parse_jwks(&String::from_utf8_lossy(&bytes))
}

/// The client's keys: inline, or from its `jwks_uri` (cached; `refresh` refetches a
/// set that is not brand new, for a `kid` it does not hold).
async fn client_keys(
    st: &AppState,
    client: &oauth_client::Model,
    refresh: bool,
) -> Result<JwkSet, String> {
    if let Some(inline) = &client.jwks {
        return parse_jwks(inline);
    }
    let Some(uri) = &client.jwks_uri else {
        return Err("the client publishes no keys".into());
    };
    let cache = &st.oauth.jwks;
    if let Ok(map) = cache.map.read()
        && let Some((at, set)) = map.get(uri)
        && at.elapsed() < JWKS_TTL
        && !(refresh && at.elapsed() > JWKS_REFETCH_AFTER)
    {
        return Ok(set.clone());
    }
    let set = fetch_jwks(st, uri).await?;
    if let Ok(mut map) = cache.map.write() {
        if map.len() > 1000 {
            map.clear();
        }
        map.insert(uri.clone(), (Instant::now(), set.clone()));
    }
    Ok(set)
}

/// Keys of the set that may verify `alg`: the right family (and curve), and the
/// header's `kid` when it names one.
fn candidates<'a>(set: &'a JwkSet, alg: Algorithm, kid: Option<&str>) -> Vec<&'a Jwk> {
    set.keys
        .iter()
        .filter(|k| kid.is_none_or(|kid| k.common.key_id.as_deref() == Some(kid)))
        .filter(|k| match (&k.algorithm, alg) {
            (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
            (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => {
                p.curve == EllipticCurve::P256
            }
            _ => false,
        })
        .collect()
}

fn verify_with(jwt: &str, keys: &[&Jwk], alg: Algorithm) -> Option<Claims> {
    let mut v = Validation::new(alg);
    // Times and audience are checked below, against the server's clock and both of the
    // audiences RFC 7523 allows.
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    keys.iter().find_map(|k| {
        let key = DecodingKey::from_jwk(k).ok()?;
        jsonwebtoken::decode::<Claims>(jwt, &key, &v)
            .ok()
            .map(|d| d.claims)
    })
}

fn check_claims(
    st: &AppState,
    c: &Claims,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, &'static str> {
    if c.iss != client_id || c.sub != client_id {
        return Err("the assertion's iss and sub must be the client_id");
    }
    let token_endpoint = format!("{}/token", st.public_url);
    let ours = |a: &str| {
        let a = a.trim_end_matches('/');
        a == token_endpoint || a == st.public_url
    };
    if !c.aud.any(ours) {
        return Err("the assertion's aud must be the token endpoint or the issuer");
    }
    let now_s = now.timestamp();
    if c.exp + LEEWAY_SECS <= now_s {
        return Err("the assertion has expired");
    }
    if c.exp > now_s + MAX_LIFETIME_SECS {
        return Err("the assertion expires too far in the future");
    }
    if c.nbf.is_some_and(|n| n > now_s + LEEWAY_SECS)
        || c.iat.is_some_and(|i| i > now_s + LEEWAY_SECS)
    {
        return Err("the assertion is not valid yet");
    }
    if c.jti.is_empty() || c.jti.len() > 256 {
        return Err("the assertion needs a jti of at most 256 characters");
    }
    DateTime::from_timestamp(c.exp + LEEWAY_SECS, 0).ok_or("the assertion's exp is out of range")
}

/// Records the assertion's `jti` until it expires; false when it was already used.
/// In the database, so a replay to another replica fails too.
async fn first_use(
    st: &AppState,
    client_id: &str,
    jti: &str,
    until: DateTime<Utc>,
) -> Result<bool, OAuthError> {
    let _turn = st.write_turn().await;
    let inserted = oauth_client_assertion::Entity::insert(oauth_client_assertion::ActiveModel {
        jti_hash: Set(crypto::hash_token(&format!("{client_id}\n{jti}"))),
        expires_at: Set(until),
    })
    .on_conflict(
        OnConflict::column(oauth_client_assertion::Column::JtiHash)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&st.db)
    .await
    .map_err(OAuthError::server)?;
    Ok(inserted > 0)
}

/// Authenticates a client by its assertion. Every refusal is 401 `invalid_client`
/// without detail on which key or claim failed beyond what the client can fix.
pub async fn authenticate(
    st: &AppState,
    form_client_id: Option<&str>,
    assertion_type: Option<&str>,
    assertion: Option<&str>,
) -> Result<oauth_client::Model, OAuthError> {
    if assertion_type != Some(ASSERTION_TYPE) {
        return Err(OAuthError::bad_request(
            "invalid_request",
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
    }
    let Some(jwt) = assertion.filter(|a| !a.is_empty() && a.len() <= 16 * 1024) else {
        return Err(OAuthError::bad_request(
            "invalid_request",
            "client_assertion is required",
        ));
    };
    let bad = || OAuthError::invalid_client("the client assertion is not a valid signed JWT");
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| bad())?;
    let alg = match header.alg {
        Algorithm::RS256 | Algorithm::ES256 => header.alg,
        _ => {
            return Err(OAuthError::invalid_client(
                "client assertions are signed with RS256 or ES256",
            ));
        }
    };
    // Which client it claims to be, before its signature is checked (the claim only
    // picks the keys to check it with).
    let claimed: Claims =
        jsonwebtoken::dangerous::insecure_decode_claims(jwt).map_err(|_| bad())?;
    let client_id = form_client_id.unwrap_or(&claimed.sub);
    if !super::clients::is_metadata_url(client_id) {
        return Err(OAuthError::invalid_client(
            "private_key_jwt is for metadata-document clients",
        ));
    }
    let client = st
        .oauth
        .clients
        .resolve(st, client_id)
        .await
        .map_err(|e| OAuthError::invalid_client(&e))?;
    if client.auth_method != super::clients::METHOD_PRIVATE_KEY_JWT {
        return Err(OAuthError::invalid_client(
            "this client does not authenticate with private_key_jwt",
        ));
    }
    let kid = header.kid.as_deref();
    let keys_err = |e: String| OAuthError::invalid_client(&e);
    let set = client_keys(st, &client, false).await.map_err(keys_err)?;
    let mut claims = verify_with(jwt, &candidates(&set, alg, kid), alg);
    if claims.is_none() && client.jwks.is_none() {
        // Perhaps a key the cached set predates.
        let set = client_keys(st, &client, true).await.map_err(keys_err)?;
        claims = verify_with(jwt, &candidates(&set, alg, kid), alg);
    }
    let claims = claims.ok_or_else(|| {
        OAuthError::invalid_client("the client assertion's signature does not verify")
    })?;
    let until =
        check_claims(st, &claims, client_id, st.clock.now()).map_err(OAuthError::invalid_client)?;
    if !first_use(st, client_id, &claims.jti, until).await? {
        return Err(OAuthError::invalid_client(
            "this client assertion was already used",
        ));
    }
    Ok(client)
}

/// Used assertion ids past their expiry (the janitor).
pub async fn sweep<C: sea_orm::ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<u64, sea_orm::DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(oauth_client_assertion::Entity::delete_many()
        .filter(oauth_client_assertion::Column::ExpiresAt.lte(now - Duration::minutes(1)))
        .exec(db)
        .await?
        .rows_affected)
}
