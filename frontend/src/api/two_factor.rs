//! Personal two-factor authentication: the login's second step, TOTP set-up, backup
//! codes, the account's security summary.
use super::{ApiError, ApiFuture, Reply, finish, get, ignore_answer, request, send, send_empty};
use gatehouse_types::{
    AccountSecurity, BackupCodes, DisableTotpRequest, LoginRequest, MfaChallenge, MfaVerifyRequest,
    RegenerateBackupCodesRequest, TotpConfirmRequest, TotpEnrolment, User,
};

/// What a password sign-in led to: signed in, or a second step to take.
#[derive(Clone)]
pub enum LoginOutcome {
    SignedIn,
    SecondStep(MfaChallenge),
}

/// `POST /auth/login`: 200 with the user, or 202 with a second-step challenge.
pub fn login(req: &LoginRequest) -> ApiFuture<LoginOutcome> {
    let json = serde_json::to_string(req).map_err(|e| ApiError::network(e.into()));
    ApiFuture {
        reply: request("POST", "/auth/login", Some(json)),
        decode: |r: Result<Reply, ApiError>| match r {
            Ok(reply) if reply.status == 202 => finish(Ok(reply)).map(LoginOutcome::SecondStep),
            other => finish::<User>(other).map(|_| LoginOutcome::SignedIn),
        },
    }
}
pub fn verify(req: &MfaVerifyRequest) -> ApiFuture<User> {
    send("POST", "/auth/mfa", req)
}
pub fn security() -> ApiFuture<AccountSecurity> {
    get("/me/security")
}
pub fn start_totp() -> ApiFuture<TotpEnrolment> {
    send_empty("POST", "/me/totp")
}
pub fn confirm_totp(code: String) -> ApiFuture<BackupCodes> {
    send("POST", "/me/totp/confirm", &TotpConfirmRequest { code })
}
pub fn disable_totp(req: &DisableTotpRequest) -> ApiFuture<()> {
    ignore_answer(send("DELETE", "/me/totp", req))
}
pub fn regenerate_backup_codes(password: String) -> ApiFuture<BackupCodes> {
    send(
        "POST",
        "/me/backup-codes",
        &RegenerateBackupCodesRequest { password },
    )
}
