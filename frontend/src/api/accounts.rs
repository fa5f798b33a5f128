//! Sign-up, sign-in, the signed-in user's account and sessions, email and password links.
use super::{ApiFuture, get, ignore_answer, send, send_empty};
use gatehouse_types::{
    Accepted, CallerIp, ChangePasswordRequest, PasswordResetConfirm, PasswordResetRequest,
    RevokedCount, SessionInfo, SignupRequest, TokenRequest, UpdateMeRequest, User,
};

pub fn me() -> ApiFuture<User> {
    get("/me")
}
pub fn signup(req: SignupRequest) -> ApiFuture<User> {
    send("POST", "/auth/signup", &req)
}
pub fn logout() -> ApiFuture<()> {
    ignore_answer(send_empty("POST", "/auth/logout"))
}
pub fn verify_email(token: String) -> ApiFuture<User> {
    send("POST", "/auth/verify-email", &TokenRequest { token })
}
pub fn resend_verification() -> ApiFuture<Accepted> {
    send_empty("POST", "/auth/verify-email/resend")
}
pub fn request_password_reset(req: &PasswordResetRequest) -> ApiFuture<Accepted> {
    send("POST", "/auth/password-reset/request", req)
}
pub fn confirm_password_reset(req: &PasswordResetConfirm) -> ApiFuture<()> {
    ignore_answer(send("POST", "/auth/password-reset/confirm", req))
}
pub fn update_me(req: UpdateMeRequest) -> ApiFuture<User> {
    send("PATCH", "/me", &req)
}
pub fn change_password(req: ChangePasswordRequest) -> ApiFuture<()> {
    ignore_answer(send("POST", "/me/password", &req))
}
pub fn list_sessions() -> ApiFuture<Vec<SessionInfo>> {
    get("/me/sessions")
}
pub fn revoke_session(id: String) -> ApiFuture<()> {
    ignore_answer(send_empty("DELETE", &format!("/me/sessions/{id}")))
}
pub fn revoke_others() -> ApiFuture<RevokedCount> {
    send_empty("POST", "/me/sessions/revoke-others")
}
/// The caller's address as the server sees it (for the IP allowlist's lock-out guard).
pub fn my_ip() -> ApiFuture<CallerIp> {
    get("/me/ip")
}
