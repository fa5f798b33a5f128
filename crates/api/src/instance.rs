//! Facts about the installation that every replica must agree on, kept in the
//! `instance_settings` table. For now the master key's check value: an HMAC of a fixed
//! label under the key (never the key itself), stored by the first replica to start.
//! A replica whose key gives another value refuses to start, before it writes anything:
//! running, it would answer `/token` with 500 and valid tokens with 401, and mark
//! credentialed connectors unhealthy for every replica.
use crate::{
    config::Config,
    crypto::Cipher,
    entity::{connector, oauth_signing_key},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query},
};

const TABLE: &str = "instance_settings";
const MASTER_KEY_CHECK: &str = "master_key_check";

fn check_value(key: &[u8; 32]) -> String {
    format!(
        "v1:{}",
        Cipher::new(*key).mac("master key check", b"gatehouse master key")
    )
}

async fn get(db: &DatabaseConnection, name: &str) -> Result<Option<String>, sea_orm::DbErr> {
    let q = Query::select()
        .column(Alias::new("value"))
        .from(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("name")).eq(name))
        .to_owned();
    match db.query_one(&q).await? {
        Some(row) => Ok(Some(row.try_get::<String>("", "value")?)),
        None => Ok(None),
    }
}

/// Inserts unless a value is there already (another replica's, starting at the same
/// moment, wins just as well).
async fn put_if_absent(
    db: &DatabaseConnection,
    name: &str,
    value: &str,
) -> Result<(), sea_orm::DbErr> {
    let q = Query::insert()
        .into_table(Alias::new(TABLE))
        .columns([Alias::new("name"), Alias::new("value")])
        .values([name.into(), value.into()])
        .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?
        .on_conflict(
            OnConflict::column(Alias::new("name"))
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    db.execute(&q).await?;
    Ok(())
}

/// A few secrets sealed under the master key, if the database has any: the newest
/// OAuth signing key and a connector credential.
async fn sealed_samples(db: &DatabaseConnection) -> Result<Vec<String>, sea_orm::DbErr> {
    use sea_orm::QueryOrder;
    let mut out = Vec::new();
    if let Some(k) = oauth_signing_key::Entity::find()
        .order_by_desc(oauth_signing_key::Column::CreatedAt)
        .one(db)
        .await?
    {
        out.push(k.private_enc);
    }
    if let Some(c) = connector::Entity::find()
        .filter(connector::Column::CredentialEnc.is_not_null())
        .one(db)
        .await?
    {
        out.extend(c.credential_enc);
    }
    Ok(out)
}

fn how_to_fix(config: &Config) -> String {
    format!(
        "Start every replica with the same key: GATEHOUSE_MASTER_KEY (32 bytes, base64), \
         GATEHOUSE_MASTER_KEY_FILE, or the file {}. Nothing was written.",
        master_key_path(config).display()
    )
}

/// The master key to run with: the configured one (or, on a database without secrets,
/// a new one), checked against the database's check value, which the first start
/// stores. Fails, having written nothing, when the key is not the database's or when
/// none is configured for a database that has one.
pub async fn master_key(config: &Config, db: &DatabaseConnection) -> anyhow::Result<[u8; 32]> {
    let stored = get(db, MASTER_KEY_CHECK).await?;
    let (key, source) = match (configured_master_key(config)?, &stored) {
        (Some(k), _) => k,
        (None, Some(_)) => anyhow::bail!(
            "no master key is configured, and this database's secrets are encrypted under one. {}",
            how_to_fix(config)
        ),
        (None, None) => {
            if !sealed_samples(db).await?.is_empty() {
                anyhow::bail!(
                    "no master key is configured, and this database holds secrets encrypted under one. {}",
                    how_to_fix(config)
                );
            }
            let key = generate_master_key_file(config)?;
            (key, "a newly generated key".to_string())
        }
    };
    let mine = check_value(&key);
    let stored = match stored {
        Some(s) => s,
        None => {
            // A database from before the check value: the key must open what is
            // sealed already before it becomes the database's key.
            let cipher = Cipher::new(key);
            if sealed_samples(db)
                .await?
                .iter()
                .any(|s| cipher.decrypt(s).is_err())
            {
                anyhow::bail!(
                    "the master key ({source}) cannot decrypt the secrets in this database. {}",
                    how_to_fix(config)
                );
            }
            put_if_absent(db, MASTER_KEY_CHECK, &mine).await?;
            get(db, MASTER_KEY_CHECK)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the master key check value was not stored"))?
        }
    };
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        stored.as_bytes(),
        mine.as_bytes(),
    )) {
        anyhow::bail!(
            "the master key ({source}) is not the one this database's secrets are encrypted under \
             (its check value, in table {TABLE}, differs). {}",
            how_to_fix(config)
        );
    }
    Ok(key)
}

/// The configured master key and where it came from: `master_key`, `master_key_file`,
/// or `{data_dir}/master.key` when that exists. `None`: none is configured.
pub(crate) fn configured_master_key(config: &Config) -> anyhow::Result<Option<([u8; 32], String)>> {
    use secrecy::ExposeSecret;
    if let Some(k) = &config.master_key {
        let key = crate::crypto::decode_master_key(k.expose_secret())?;
        return Ok(Some((key, "GATEHOUSE_MASTER_KEY".into())));
    }
    let path = master_key_path(config);
    match std::fs::read_to_string(&path) {
        Ok(k) => Ok(Some((
            crate::crypto::decode_master_key(&k)?,
            format!("the key file {}", path.display()),
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && config.master_key_file.is_none() => {
            Ok(None)
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot read the master key at {}: {e}",
            path.display()
        )),
    }
}

pub(crate) fn master_key_path(config: &Config) -> std::path::PathBuf {
    config
        .master_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("master.key"))
}

/// Generates `{data_dir}/master.key` (first start without a configured key). Another
/// process sharing the directory may be doing the same: then its key is used.
pub(crate) fn generate_master_key_file(config: &Config) -> anyhow::Result<[u8; 32]> {
    let path = master_key_path(config);
    crate::db::private_dir(&config.data_dir)?;
    let key = crate::crypto::generate_master_key();
    match write_private(&path, &key) {
        Ok(()) => {
            tracing::warn!(path = %path.display(), "generated a new master encryption key; back it up, or set GATEHOUSE_MASTER_KEY in production: secrets encrypted under it are lost without it");
            crate::crypto::decode_master_key(&key)
        }
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::AlreadyExists) =>
        {
            // The other process may still be writing it.
            for _ in 0..50 {
                if let Ok(Some((k, _))) = configured_master_key(config) {
                    return Ok(k);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            configured_master_key(config)?
                .map(|(k, _)| k)
                .ok_or_else(|| anyhow::anyhow!("cannot read the master key at {}", path.display()))
        }
        Err(e) => Err(e),
    }
}

/// The configured master key, or a new one (tests, and support commands' old path).
pub(crate) fn master_key_or_new(config: &Config) -> anyhow::Result<[u8; 32]> {
    match configured_master_key(config)? {
        Some((k, _)) => Ok(k),
        None => generate_master_key_file(config),
    }
}

fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(contents.as_bytes())?;
    Ok(())
}
