//! The personal PIN and the step-up window it opens in an org with PIN protection.
use super::{ApiFuture, ignore_answer, send};
use gatehouse_types::{
    Accepted, PinResetConfirm, PinResetRequest, PinStepUp, SetPinRequest, VerifyPinRequest,
};

pub fn set(req: &SetPinRequest) -> ApiFuture<()> {
    ignore_answer(send("PUT", "/me/pin", req))
}
pub fn request_reset(password: String) -> ApiFuture<Accepted> {
    send("POST", "/me/pin/reset", &PinResetRequest { password })
}
pub fn confirm_reset(req: &PinResetConfirm) -> ApiFuture<()> {
    ignore_answer(send("POST", "/me/pin/reset/confirm", req))
}
/// Opens this session's step-up window in the org.
pub fn verify(slug: &str, pin: String) -> ApiFuture<PinStepUp> {
    send(
        "POST",
        &format!("/orgs/{slug}/pin/verify"),
        &VerifyPinRequest { pin },
    )
}
