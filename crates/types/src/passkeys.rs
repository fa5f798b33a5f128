//! Passkeys (WebAuthn credentials) of the signed-in user, and a passkey as the second
//! step of a login.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A passkey's name: 1 to 64 characters.
pub const PASSKEY_NAME_MAX_CHARS: usize = 64;

/// A registered passkey. Its key material is never returned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Passkey {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// WebAuthn options as the browser API takes them: `{"publicKey": …}` for
/// `navigator.credentials.create()` (registration) or `.get()` (sign-in), binary
/// fields base64url-encoded (`PublicKeyCredential.parseCreationOptionsFromJSON` /
/// `parseRequestOptionsFromJSON` read them as they are).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasskeyOptions {
    #[serde(rename = "publicKey")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub public_key: serde_json::Value,
}

/// Finishes a registration started with `POST /me/passkeys/options`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePasskeyRequest {
    /// 1 to 64 characters, e.g. "Work laptop".
    pub name: String,
    /// The `PublicKeyCredential` that `navigator.credentials.create()` returned, as
    /// JSON (`credential.toJSON()`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credential: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RenamePasskeyRequest {
    /// 1 to 64 characters.
    pub name: String,
}

/// Removing a factor is sensitive: the account password confirms it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RemovePasskeyRequest {
    pub password: String,
}

/// Asks for the WebAuthn options of a login's second step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MfaPasskeyOptionsRequest {
    /// From the login's `202` answer.
    pub pending_token: String,
}

/// Completes a login's second step with a passkey.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MfaPasskeyRequest {
    pub pending_token: String,
    /// The `PublicKeyCredential` that `navigator.credentials.get()` returned, as JSON.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credential: serde_json::Value,
}

/// The options of a sign-in with a passkey alone (no email, no password): for
/// `navigator.credentials.get()` (no `allowCredentials`: the device offers its
/// passkeys for this site), and the token that ties the answer to them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasskeySignInOptions {
    /// Single use, for 5 minutes.
    pub ceremony: String,
    #[serde(rename = "publicKey")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub public_key: serde_json::Value,
}

/// Signs in with a passkey alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasskeySignInRequest {
    pub ceremony: String,
    /// The `PublicKeyCredential` that `navigator.credentials.get()` returned, as JSON
    /// (with its `userHandle`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credential: serde_json::Value,
}
