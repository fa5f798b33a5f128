//! Password hashing, random tokens with prefixes and checksums, and authenticated
//! encryption under the master key.
use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, AeadCore},
};
use rand::{RngCore, rngs::OsRng};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// OWASP's argon2id recommendation: m=19 MiB, t=2, p=1.
fn argon2() -> Argon2<'static> {
    #[allow(clippy::unwrap_used)] // constant, valid parameters
    let params = Params::new(19 * 1024, 2, 1, None).unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so that unknown and known
/// emails take the same time.
pub static DUMMY_PASSWORD_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("not-a-real-password-0000").unwrap_or_default());

/// Runs argon2 off the async executor.
pub async fn hash_password_blocking(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&password)).await?
}

pub async fn verify_password_blocking(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// The kinds of bearer tokens we hand out. The prefix lets secret scanners and people
/// recognize a leaked token; the checksum catches typos before any database look-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Session,
    EmailVerification,
    PasswordReset,
    Invitation,
    ApiKey,
    McpSession,
    OAuthClientId,
    OAuthClientSecret,
    OAuthCode,
    OAuthRefresh,
    /// Between a right password and the second factor.
    MfaPending,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Session => "ghs_",
            TokenKind::EmailVerification => "ghv_",
            TokenKind::PasswordReset => "ghr_",
            TokenKind::Invitation => "ghi_",
            TokenKind::ApiKey => "gk_",
            TokenKind::McpSession => "ghm_",
            TokenKind::OAuthClientId => "ghc_",
            TokenKind::OAuthClientSecret => "ghcs_",
            TokenKind::OAuthCode => "ghac_",
            TokenKind::OAuthRefresh => "ghrt_",
            TokenKind::MfaPending => "ghp_",
        }
    }
}

const TOKEN_RANDOM_BYTES: usize = 32;

fn checksum(body: &str) -> String {
    URL_SAFE_NO_PAD.encode(crc32fast::hash(body.as_bytes()).to_be_bytes())
}

/// A new token: prefix + base64url(32 random bytes) + base64url(CRC32 of the former).
pub fn generate_token(kind: TokenKind) -> String {
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    OsRng.fill_bytes(&mut bytes);
    let body = format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(bytes));
    let sum = checksum(&body);
    format!("{body}{sum}")
}

/// True when `token` has the kind's prefix, the right length and a valid checksum.
pub fn token_is_well_formed(kind: TokenKind, token: &str) -> bool {
    let body_len = kind.prefix().len() + 43; // base64url of 32 bytes
    if token.len() != body_len + 6 || !token.starts_with(kind.prefix()) || !token.is_ascii() {
        return false;
    }
    let (body, sum) = token.split_at(body_len);
    subtle::ConstantTimeEq::ct_eq(checksum(body).as_bytes(), sum.as_bytes()).into()
}

/// Tokens are 256-bit random values, so a fast hash suffices: nothing to brute-force.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// AEAD (XChaCha20-Poly1305) under the master key, for secrets we must use again.
#[derive(Clone)]
pub struct Cipher {
    key: chacha20poly1305::Key,
}

impl Cipher {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key: key.into() }
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> anyhow::Result<String> {
        let cipher = XChaCha20Poly1305::new(&self.key);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = cipher
            .encrypt(&nonce, plaintext)
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("v1:{}", STANDARD.encode(out)))
    }

    /// HMAC-SHA256 under a key derived from the master key (a separate key per use of
    /// the master key), base64url: for stateless tokens such as consent CSRF tokens.
    pub fn mac(&self, purpose: &str, msg: &[u8]) -> String {
        use hmac::Mac;
        let subkey = Sha256::new()
            .chain_update(b"gatehouse mac key\0")
            .chain_update(purpose.as_bytes())
            .chain_update(self.key.as_slice())
            .finalize();
        let mut m = <hmac::Hmac<Sha256> as Mac>::new_from_slice(&subkey)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(msg);
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    }

    pub fn decrypt(&self, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let raw = sealed
            .strip_prefix("v1:")
            .ok_or_else(|| anyhow::anyhow!("unknown format"))?;
        let raw = STANDARD.decode(raw)?;
        if raw.len() < 24 {
            anyhow::bail!("ciphertext too short");
        }
        let (nonce, ct) = raw.split_at(24);
        XChaCha20Poly1305::new(&self.key)
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| anyhow::anyhow!("decryption failed: wrong key or tampered data"))
    }
}

pub fn decode_master_key(b64: &str) -> anyhow::Result<[u8; 32]> {
    let raw = STANDARD.decode(b64.trim())?;
    raw.try_into()
        .map_err(|_| anyhow::anyhow!("the master key must be 32 bytes, base64-encoded"))
}

pub fn generate_master_key() -> String {
    let mut key = [0u8; 32];
    OsRng.fill_bytes(&mut key);
    STANDARD.encode(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_prefix_and_checksum() {
        let t = generate_token(TokenKind::Invitation);
        assert!(t.starts_with("ghi_"));
        assert!(token_is_well_formed(TokenKind::Invitation, &t));
        assert!(!token_is_well_formed(TokenKind::Session, &t));
        let mut typo = t.clone().into_bytes();
        typo[10] = if typo[10] == b'A' { b'B' } else { b'A' };
        assert!(!token_is_well_formed(
            TokenKind::Invitation,
            &String::from_utf8_lossy(&typo)
        ));
        assert_ne!(
            generate_token(TokenKind::Session),
            generate_token(TokenKind::Session)
        );
    }

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("correct horse battery").unwrap_or_default();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn cipher_round_trips_and_detects_tampering() {
        let c = Cipher::new([7u8; 32]);
        let sealed = c.encrypt(b"whsec_123").unwrap_or_default();
        assert_eq!(c.decrypt(&sealed).ok().as_deref(), Some(&b"whsec_123"[..]));
        assert!(Cipher::new([8u8; 32]).decrypt(&sealed).is_err());
        let mut bad = sealed.clone();
        bad.pop();
        bad.push('A');
        assert!(c.decrypt(&bad).is_err() || bad == sealed);
    }
}
