//! The REST API as typed calls: each takes the `gatehouse_types` request struct the
//! dashboard sends and answers a `Reply` of the documented response type, so a renamed
//! or retyped field breaks the build instead of a test's meaning. Tests that send
//! deliberately malformed bodies use `Session::post`/`patch` with raw JSON instead.
use super::{Session, TestApp, json};
use gatehouse_types::*;
use reqwest::{Client, Response};
use serde::de::DeserializeOwned;
use std::{marker::PhantomData, ops::Deref};
use uuid::Uuid;

/// An answer whose success body is a `T`; derefs to the response for status and headers.
pub struct Reply<T> {
    resp: Response,
    body: PhantomData<fn() -> T>,
}

impl<T> From<Response> for Reply<T> {
    fn from(resp: Response) -> Self {
        Reply {
            resp,
            body: PhantomData,
        }
    }
}

impl<T> From<Reply<T>> for Response {
    fn from(r: Reply<T>) -> Response {
        r.resp
    }
}

impl<T> Deref for Reply<T> {
    type Target = Response;
    fn deref(&self) -> &Response {
        &self.resp
    }
}

impl<T> Reply<T> {
    pub fn into_response(self) -> Response {
        self.resp
    }
    /// The body as text, whatever the status.
    pub async fn text(self) -> String {
        self.resp.text().await.unwrap()
    }
    /// Asserts `204 No Content`.
    pub async fn no_content(self) {
        let status = self.resp.status();
        let text = self.resp.text().await.unwrap_or_default();
        assert_eq!(status, 204, "{text}");
    }
}

impl<T: DeserializeOwned> Reply<T> {
    /// Asserts a 2xx answer and reads its body.
    pub async fn ok(self) -> T {
        json(self.resp).await
    }
    /// Asserts exactly `status` and reads the body.
    pub async fn expect(self, status: u16) -> T {
        let got = self.resp.status();
        let text = self.resp.text().await.unwrap();
        assert_eq!(got, status, "{text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}

impl TestApp {
    /// A program calling with `authorization` (e.g. `ApiKey gk_…` or `Bearer gk_…`)
    /// instead of a session: no cookies, no `Origin`.
    pub fn program(&self, authorization: &str) -> Session {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("Authorization", authorization.parse().unwrap());
        Session {
            http: Client::builder().default_headers(headers).build().unwrap(),
            base: self.base.clone(),
        }
    }

    /// A program calling with an API key in the `ApiKey` scheme.
    pub fn key_client(&self, secret: &str) -> Session {
        self.program(&format!("ApiKey {secret}"))
    }
}

impl Session {
    async fn send<T>(&self, method: reqwest::Method, path: &str) -> Reply<T> {
        self.http
            .request(method, format!("{}/api/v1{path}", self.base))
            .send()
            .await
            .unwrap()
            .into()
    }
    async fn send_json<T>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Reply<T> {
        self.http
            .request(method, format!("{}/api/v1{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap()
            .into()
    }
    async fn get_as<T>(&self, path: &str) -> Reply<T> {
        self.send(reqwest::Method::GET, path).await
    }
    async fn post_as<T>(&self, path: &str, body: &impl serde::Serialize) -> Reply<T> {
        self.send_json(reqwest::Method::POST, path, body).await
    }
    async fn patch_as<T>(&self, path: &str, body: &impl serde::Serialize) -> Reply<T> {
        self.send_json(reqwest::Method::PATCH, path, body).await
    }
    async fn delete_as(&self, path: &str) -> Reply<()> {
        self.send(reqwest::Method::DELETE, path).await
    }

    // Accounts and sessions.
    pub async fn signup(&self, req: &SignupRequest) -> Reply<User> {
        self.post_as("/auth/signup", req).await
    }
    pub async fn login(&self, req: &LoginRequest) -> Reply<User> {
        self.post_as("/auth/login", req).await
    }
    pub async fn logout(&self) -> Reply<()> {
        self.send(reqwest::Method::POST, "/auth/logout").await
    }
    pub async fn verify_email(&self, req: &TokenRequest) -> Reply<User> {
        self.post_as("/auth/verify-email", req).await
    }
    pub async fn request_password_reset(&self, req: &PasswordResetRequest) -> Reply<Accepted> {
        self.post_as("/auth/password-reset/request", req).await
    }
    pub async fn confirm_password_reset(&self, req: &PasswordResetConfirm) -> Reply<()> {
        self.post_as("/auth/password-reset/confirm", req).await
    }
    pub async fn me(&self) -> Reply<User> {
        self.get_as("/me").await
    }
    pub async fn update_me(&self, req: &UpdateMeRequest) -> Reply<User> {
        self.patch_as("/me", req).await
    }
    pub async fn change_password(&self, req: &ChangePasswordRequest) -> Reply<()> {
        self.post_as("/me/password", req).await
    }
    pub async fn my_ip(&self) -> Reply<CallerIp> {
        self.get_as("/me/ip").await
    }
    pub async fn my_sessions(&self) -> Reply<Vec<SessionInfo>> {
        self.get_as("/me/sessions").await
    }
    pub async fn revoke_session(&self, id: Uuid) -> Reply<()> {
        self.delete_as(&format!("/me/sessions/{id}")).await
    }
    pub async fn revoke_other_sessions(&self) -> Reply<RevokedCount> {
        self.send(reqwest::Method::POST, "/me/sessions/revoke-others")
            .await
    }

    // Two-factor authentication.
    /// `POST /auth/login` for a user with MFA: 202 and the challenge.
    pub async fn login_mfa(&self, req: &LoginRequest) -> Reply<MfaChallenge> {
        self.post_as("/auth/login", req).await
    }
    pub async fn verify_mfa(&self, req: &MfaVerifyRequest) -> Reply<User> {
        self.post_as("/auth/mfa", req).await
    }
    pub async fn start_totp(&self) -> Reply<TotpEnrolment> {
        self.send(reqwest::Method::POST, "/me/totp").await
    }
    pub async fn confirm_totp(&self, req: &TotpConfirmRequest) -> Reply<BackupCodes> {
        self.post_as("/me/totp/confirm", req).await
    }
    pub async fn disable_totp(&self, req: &DisableTotpRequest) -> Reply<()> {
        self.send_json(reqwest::Method::DELETE, "/me/totp", req)
            .await
    }
    pub async fn regenerate_backup_codes(
        &self,
        req: &RegenerateBackupCodesRequest,
    ) -> Reply<BackupCodes> {
        self.post_as("/me/backup-codes", req).await
    }
    pub async fn account_security(&self) -> Reply<AccountSecurity> {
        self.get_as("/me/security").await
    }

    // Organizations.
    pub async fn orgs(&self) -> Reply<Vec<Organization>> {
        self.get_as("/orgs").await
    }
    pub async fn create_org(&self, req: &CreateOrgRequest) -> Reply<Organization> {
        self.post_as("/orgs", req).await
    }
    pub async fn org(&self, slug: &str) -> Reply<Organization> {
        self.get_as(&format!("/orgs/{slug}")).await
    }
    pub async fn update_org(&self, slug: &str, req: &UpdateOrgRequest) -> Reply<Organization> {
        self.patch_as(&format!("/orgs/{slug}"), req).await
    }
    pub async fn security_settings(&self, slug: &str) -> Reply<SecuritySettings> {
        self.get_as(&format!("/orgs/{slug}/settings/security"))
            .await
    }
    pub async fn update_security_settings(
        &self,
        slug: &str,
        req: &UpdateSecuritySettings,
    ) -> Reply<SecuritySettings> {
        self.patch_as(&format!("/orgs/{slug}/settings/security"), req)
            .await
    }
    pub async fn mfa_preview(&self, slug: &str) -> Reply<MfaPreview> {
        self.get_as(&format!("/orgs/{slug}/settings/security/mfa-preview"))
            .await
    }
    pub async fn transfer_ownership(
        &self,
        slug: &str,
        req: &TransferOwnershipRequest,
    ) -> Reply<Organization> {
        self.post_as(&format!("/orgs/{slug}/transfer-ownership"), req)
            .await
    }
    pub async fn usage(&self, slug: &str) -> Reply<Vec<UsageRow>> {
        self.get_as(&format!("/orgs/{slug}/usage")).await
    }
    pub async fn ip_presets(&self) -> Reply<Vec<IpPreset>> {
        self.get_as("/ip-allowlist/presets").await
    }

    // Members and invitations.
    pub async fn members(&self, slug: &str) -> Reply<Vec<Member>> {
        self.get_as(&format!("/orgs/{slug}/members")).await
    }
    pub async fn update_member(
        &self,
        slug: &str,
        user_id: Uuid,
        req: &UpdateMemberRequest,
    ) -> Reply<Member> {
        self.patch_as(&format!("/orgs/{slug}/members/{user_id}"), req)
            .await
    }
    pub async fn remove_member(&self, slug: &str, user_id: Uuid) -> Reply<()> {
        self.delete_as(&format!("/orgs/{slug}/members/{user_id}"))
            .await
    }
    pub async fn invitations(&self, slug: &str) -> Reply<Vec<Invitation>> {
        self.get_as(&format!("/orgs/{slug}/invitations")).await
    }
    pub async fn invite(&self, slug: &str, req: &CreateInvitationRequest) -> Reply<Invitation> {
        self.post_as(&format!("/orgs/{slug}/invitations"), req)
            .await
    }
    pub async fn revoke_invitation(&self, slug: &str, id: Uuid) -> Reply<()> {
        self.delete_as(&format!("/orgs/{slug}/invitations/{id}"))
            .await
    }
    pub async fn lookup_invitation(&self, req: &TokenRequest) -> Reply<InvitationPreview> {
        self.post_as("/invitations/lookup", req).await
    }
    pub async fn accept_invitation(&self, req: &AcceptInvitationRequest) -> Reply<Organization> {
        self.post_as("/invitations/accept", req).await
    }

    // API keys.
    pub async fn api_keys(&self, slug: &str) -> Reply<Vec<ApiKey>> {
        self.get_as(&format!("/orgs/{slug}/api-keys")).await
    }
    pub async fn create_api_key(
        &self,
        slug: &str,
        req: &CreateApiKeyRequest,
    ) -> Reply<CreatedApiKey> {
        self.post_as(&format!("/orgs/{slug}/api-keys"), req).await
    }
    pub async fn revoke_api_key(&self, slug: &str, id: Uuid) -> Reply<()> {
        self.delete_as(&format!("/orgs/{slug}/api-keys/{id}")).await
    }

    // Connectors.
    pub async fn connectors(&self, slug: &str) -> Reply<Vec<Connector>> {
        self.get_as(&format!("/orgs/{slug}/connectors")).await
    }
    pub async fn create_connector(
        &self,
        slug: &str,
        req: &CreateConnectorRequest,
    ) -> Reply<Connector> {
        self.post_as(&format!("/orgs/{slug}/connectors"), req).await
    }
    pub async fn connector(&self, slug: &str, id: Uuid) -> Reply<Connector> {
        self.get_as(&format!("/orgs/{slug}/connectors/{id}")).await
    }
    pub async fn update_connector(
        &self,
        slug: &str,
        id: Uuid,
        req: &UpdateConnectorRequest,
    ) -> Reply<Connector> {
        self.patch_as(&format!("/orgs/{slug}/connectors/{id}"), req)
            .await
    }
    pub async fn delete_connector(&self, slug: &str, id: Uuid) -> Reply<()> {
        self.delete_as(&format!("/orgs/{slug}/connectors/{id}"))
            .await
    }

    // Audit log.
    /// One page of the org's audit log; `query` is the raw query string
    /// (`action=org.&limit=5`).
    pub async fn audit_log(&self, slug: &str, query: &str) -> Reply<AuditPage> {
        self.get_as(&format!("/orgs/{slug}/audit-logs?{query}"))
            .await
    }
    /// The newest page of events whose action starts with `action` (asserts success).
    pub async fn events(&self, slug: &str, action: &str) -> AuditPage {
        self.audit_log(slug, &format!("action={action}"))
            .await
            .ok()
            .await
    }

    // OAuth administration.
    pub async fn oauth_clients(&self, slug: &str) -> Reply<Vec<OAuthClient>> {
        self.get_as(&format!("/orgs/{slug}/oauth/clients")).await
    }
    pub async fn create_oauth_client(
        &self,
        slug: &str,
        req: &CreateOAuthClientRequest,
    ) -> Reply<CreatedOAuthClient> {
        self.post_as(&format!("/orgs/{slug}/oauth/clients"), req)
            .await
    }
    pub async fn delete_oauth_client(&self, slug: &str, id: Uuid) -> Reply<()> {
        self.delete_as(&format!("/orgs/{slug}/oauth/clients/{id}"))
            .await
    }
    pub async fn oauth_settings(&self, slug: &str) -> Reply<OAuthSettings> {
        self.get_as(&format!("/orgs/{slug}/oauth/settings")).await
    }
    pub async fn update_oauth_settings(
        &self,
        slug: &str,
        req: &UpdateOAuthSettings,
    ) -> Reply<OAuthSettings> {
        self.patch_as(&format!("/orgs/{slug}/oauth/settings"), req)
            .await
    }
}

// The requests most tests build, with the optional fields left out.

pub fn signup_req(email: &str, password: &str) -> SignupRequest {
    SignupRequest {
        email: email.into(),
        password: password.into(),
        display_name: None,
    }
}

pub fn login_req(email: &str, password: &str) -> LoginRequest {
    LoginRequest {
        email: email.into(),
        password: password.into(),
    }
}

pub fn token_req(token: &str) -> TokenRequest {
    TokenRequest {
        token: token.into(),
    }
}

pub fn org_req(name: &str) -> CreateOrgRequest {
    CreateOrgRequest {
        name: name.into(),
        slug: None,
        description: None,
    }
}

pub fn invite_req(email: &str, role: Role) -> CreateInvitationRequest {
    CreateInvitationRequest {
        email: email.into(),
        role,
    }
}

/// An enabled connector (the server's default) with no credential.
pub fn connector_req(name: &str, url: &str) -> CreateConnectorRequest {
    CreateConnectorRequest {
        name: name.into(),
        url: url.into(),
        ..Default::default()
    }
}

impl Session {
    // PINs and step-up.
    pub async fn my_pin(&self) -> Reply<PinStatus> {
        self.get_as("/me/pin").await
    }
    pub async fn set_pin(&self, req: &SetPinRequest) -> Reply<()> {
        self.send_json(reqwest::Method::PUT, "/me/pin", req).await
    }
    pub async fn request_pin_reset(&self, req: &PinResetRequest) -> Reply<Accepted> {
        self.post_as("/me/pin/reset", req).await
    }
    pub async fn confirm_pin_reset(&self, req: &PinResetConfirm) -> Reply<()> {
        self.post_as("/me/pin/reset/confirm", req).await
    }
    pub async fn verify_pin(&self, slug: &str, req: &VerifyPinRequest) -> Reply<PinStepUp> {
        self.post_as(&format!("/orgs/{slug}/pin/verify"), req).await
    }
}

/// A first PIN: `pin` twice.
pub fn new_pin(pin: &str) -> SetPinRequest {
    SetPinRequest {
        pin: pin.into(),
        confirm: pin.into(),
        ..Default::default()
    }
}

pub fn pin_req(pin: &str) -> VerifyPinRequest {
    VerifyPinRequest { pin: pin.into() }
}

pub fn reset_req(email: &str) -> PasswordResetRequest {
    PasswordResetRequest {
        email: email.into(),
    }
}

// Passkeys.
impl Session {
    pub async fn passkey_options(&self) -> Reply<PasskeyOptions> {
        self.post_as("/me/passkeys/options", &serde_json::json!({}))
            .await
    }
    pub async fn create_passkey(&self, req: &CreatePasskeyRequest) -> Reply<Passkey> {
        self.post_as("/me/passkeys", req).await
    }
    pub async fn passkeys(&self) -> Reply<Vec<Passkey>> {
        self.get_as("/me/passkeys").await
    }
    pub async fn rename_passkey(&self, id: Uuid, req: &RenamePasskeyRequest) -> Reply<Passkey> {
        self.patch_as(&format!("/me/passkeys/{id}"), req).await
    }
    pub async fn remove_passkey(&self, id: Uuid, req: &RemovePasskeyRequest) -> Reply<()> {
        self.send_json(reqwest::Method::DELETE, &format!("/me/passkeys/{id}"), req)
            .await
    }
}

// A passkey as a login's second step.
impl Session {
    pub async fn mfa_passkey_options(
        &self,
        req: &MfaPasskeyOptionsRequest,
    ) -> Reply<PasskeyOptions> {
        self.post_as("/auth/mfa/passkey/options", req).await
    }
    pub async fn mfa_passkey(&self, req: &MfaPasskeyRequest) -> Reply<User> {
        self.post_as("/auth/mfa/passkey", req).await
    }
}

// Signing in with a passkey alone.
impl Session {
    pub async fn passkey_sign_in_options(&self) -> Reply<PasskeySignInOptions> {
        self.post_as("/auth/passkey/options", &serde_json::json!({}))
            .await
    }
    pub async fn passkey_sign_in(&self, req: &PasskeySignInRequest) -> Reply<User> {
        self.post_as("/auth/passkey", req).await
    }
}
