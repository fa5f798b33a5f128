//! The signed-in user's passkeys, and a passkey as a login's second step.
use super::{ApiFuture, get, ignore_answer, send, send_empty};
use gatehouse_types::{
    CreatePasskeyRequest, MfaPasskeyOptionsRequest, MfaPasskeyRequest, Passkey, PasskeyOptions,
    RemovePasskeyRequest, RenamePasskeyRequest, User,
};

pub fn list() -> ApiFuture<Vec<Passkey>> {
    get("/me/passkeys")
}
pub fn registration_options() -> ApiFuture<PasskeyOptions> {
    send_empty("POST", "/me/passkeys/options")
}
pub fn create(req: &CreatePasskeyRequest) -> ApiFuture<Passkey> {
    send("POST", "/me/passkeys", req)
}
pub fn rename(id: &str, name: String) -> ApiFuture<Passkey> {
    send(
        "PATCH",
        &format!("/me/passkeys/{id}"),
        &RenamePasskeyRequest { name },
    )
}
pub fn remove(id: &str, password: String) -> ApiFuture<()> {
    ignore_answer(send(
        "DELETE",
        &format!("/me/passkeys/{id}"),
        &RemovePasskeyRequest { password },
    ))
}
pub fn login_options(pending_token: String) -> ApiFuture<PasskeyOptions> {
    send(
        "POST",
        "/auth/mfa/passkey/options",
        &MfaPasskeyOptionsRequest { pending_token },
    )
}
pub fn login(req: &MfaPasskeyRequest) -> ApiFuture<User> {
    send("POST", "/auth/mfa/passkey", req)
}
