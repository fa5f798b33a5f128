//! Personal PINs and the step-up window they open (PIN protection of sensitive actions).
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Six ASCII digits.
pub const PIN_LEN: usize = 6;

/// Whether `pin` has the form of a PIN (the server says the same in a 422).
pub fn pin_well_formed(pin: &str) -> bool {
    pin.len() == PIN_LEN && pin.bytes().all(|b| b.is_ascii_digit())
}

/// Set the personal PIN (used in every org with PIN protection). The first time the
/// PIN and its confirmation are enough; changing one needs `current_pin` or `password`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetPinRequest {
    /// Six digits.
    pub pin: String,
    /// The same six digits again.
    pub confirm: String,
    /// The PIN in force, to change it.
    #[serde(default)]
    pub current_pin: Option<String>,
    /// The account password, to change the PIN without the current one.
    #[serde(default)]
    pub password: Option<String>,
}

/// The caller's PIN: whether one is set, and until when wrong tries locked it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PinStatus {
    pub pin_set: bool,
    pub locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyPinRequest {
    pub pin: String,
}

/// An open step-up window: this session may do PIN-guarded actions in this org until
/// `expires_at`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PinStepUp {
    pub expires_at: DateTime<Utc>,
    /// Seconds from now.
    pub expires_in: u64,
}

/// Ask for a PIN reset link by email; the password proves it is the account's owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PinResetRequest {
    pub password: String,
}

/// Set a new PIN with the token from the reset email.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PinResetConfirm {
    pub token: String,
    pub pin: String,
    pub confirm: String,
}
