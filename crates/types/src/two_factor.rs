//! Personal two-factor authentication: TOTP enrolment, backup codes, the login second
//! step, and the account's security summary.
use serde::{Deserialize, Serialize};

/// How a session signed in: the password alone, or the second factor that completed it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    #[default]
    Password,
    Totp,
    BackupCode,
    Passkey,
}

impl SignInMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInMethod::Password => "password",
            SignInMethod::Totp => "totp",
            SignInMethod::BackupCode => "backup_code",
            SignInMethod::Passkey => "passkey",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "password" => SignInMethod::Password,
            "totp" => SignInMethod::Totp,
            "backup_code" => SignInMethod::BackupCode,
            "passkey" => SignInMethod::Passkey,
            _ => return None,
        })
    }
}

/// `POST /auth/login` for a user with a second factor: no session yet; finish with
/// `POST /auth/mfa` (or the passkey calls) within `expires_in` seconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaChallenge {
    /// Single use, bound to this login attempt.
    pub pending_token: String,
    /// The second steps this user can take: `totp`, `backup_code`, `passkey`.
    pub methods: Vec<String>,
    pub expires_in: u64,
}

/// The second step that uses a code.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MfaCodeMethod {
    Totp,
    BackupCode,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MfaVerifyRequest {
    pub pending_token: String,
    pub method: MfaCodeMethod,
    pub code: String,
}

/// A new (unconfirmed) TOTP enrolment: shown once; confirm it with a code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TotpEnrolment {
    /// Base32, for typing into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/Gatehouse:{email}?secret=…&issuer=Gatehouse`
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TotpConfirmRequest {
    pub code: String,
}

/// Turning TOTP off: the password and a current code (TOTP or a backup code).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DisableTotpRequest {
    pub password: String,
    pub code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegenerateBackupCodesRequest {
    pub password: String,
}

/// Backup codes, shown this once; each works once at the second step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupCodes {
    pub codes: Vec<String>,
}

/// The signed-in user's second factors at a glance (never a secret).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountSecurity {
    pub totp_enabled: bool,
    pub backup_codes_remaining: u64,
    pub passkeys: u64,
    /// The one definition of "has MFA" (confirmed TOTP or a passkey).
    pub mfa: bool,
}
