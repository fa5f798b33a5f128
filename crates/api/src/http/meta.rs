//! Who is calling from where: the client address and user agent recorded on sessions
//! and audit events.
use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header};
use std::future::{Ready, ready};

#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientMeta {
    pub fn from_request(req: &HttpRequest) -> Self {
        // The socket peer. Forwarded headers are honoured only from trusted proxies,
        // which the IP-allowlist work configures; until then the peer is the truth.
        let ip = req.peer_addr().map(|a| a.ip().to_string());
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        Self { ip, user_agent }
    }
}

impl FromRequest for ClientMeta {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(ClientMeta::from_request(req)))
    }
}
