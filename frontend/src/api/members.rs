//! Members, invitations, ownership transfer.
use super::{ApiFuture, get, ignore_answer, send, send_empty};
use gatehouse_types::{
    AcceptInvitationRequest, CreateInvitationRequest, Invitation, InvitationPreview, Member,
    Organization, Role, TokenRequest, TransferOwnershipRequest, UpdateMemberRequest,
};

pub fn list_members(slug: String) -> ApiFuture<Vec<Member>> {
    get(&format!("/orgs/{slug}/members"))
}
pub fn update_role(slug: String, user_id: String, role: Role) -> ApiFuture<Member> {
    send(
        "PATCH",
        &format!("/orgs/{slug}/members/{user_id}"),
        &UpdateMemberRequest { role },
    )
}
pub fn remove_member(slug: String, user_id: String) -> ApiFuture<()> {
    ignore_answer(send_empty(
        "DELETE",
        &format!("/orgs/{slug}/members/{user_id}"),
    ))
}
pub fn transfer_ownership(slug: String, req: TransferOwnershipRequest) -> ApiFuture<Organization> {
    send("POST", &format!("/orgs/{slug}/transfer-ownership"), &req)
}
pub fn list_invitations(slug: String) -> ApiFuture<Vec<Invitation>> {
    get(&format!("/orgs/{slug}/invitations"))
}
pub fn create_invitation(slug: String, req: CreateInvitationRequest) -> ApiFuture<Invitation> {
    send("POST", &format!("/orgs/{slug}/invitations"), &req)
}
pub fn revoke_invitation(slug: String, id: String) -> ApiFuture<()> {
    ignore_answer(send_empty(
        "DELETE",
        &format!("/orgs/{slug}/invitations/{id}"),
    ))
}
pub fn lookup_invitation(token: String) -> ApiFuture<InvitationPreview> {
    send("POST", "/invitations/lookup", &TokenRequest { token })
}
pub fn accept_invitation(req: AcceptInvitationRequest) -> ApiFuture<Organization> {
    send("POST", "/invitations/accept", &req)
}
