//! One error type for every handler, mapped to RFC 9457 problem+json in one exhaustive
//! match. The cause chain goes to the log, never to the client.
use actix_web::{HttpResponse, ResponseError, http::StatusCode, http::header};
use gatehouse_types::{FieldError, Problem};
use std::fmt;

pub const PROBLEM_BASE: &str = "https://gatehouse.dev/problems/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Validation,
    MalformedRequest,
    AuthenticationRequired,
    InvalidCredentials,
    SessionExpired,
    CsrfRejected,
    Forbidden,
    InsufficientRole,
    NotFound,
    MethodNotAllowed,
    EmailTaken,
    SlugTaken,
    SlugImmutable,
    Conflict,
    TokenInvalid,
    TokenExpired,
    InvitationAlreadyAccepted,
    InvitationRevoked,
    InvitationEmailMismatch,
    AlreadyMember,
    TooManyAttempts,
    IpNotAllowed,
    AllowlistExcludesCaller,
    InsufficientScope,
    ToolNameCollision,
    PayloadTooLarge,
    RequestTimeout,
    MethodNotImplemented,
    Unavailable,
    Internal,
    MfaCodeInvalid,
    MfaPendingInvalid,
    PinRequired,
    PinInvalid,
    PinLocked,
    PinNotSet,
    PasskeyInvalid,
    PasskeysUnavailable,
    MfaRequired,
}

impl ErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Validation => "validation",
            ErrorKind::MalformedRequest => "malformed-request",
            ErrorKind::AuthenticationRequired => "authentication-required",
            ErrorKind::InvalidCredentials => "invalid-credentials",
            ErrorKind::SessionExpired => "session-expired",
            ErrorKind::CsrfRejected => "csrf-rejected",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::InsufficientRole => "insufficient-role",
            ErrorKind::NotFound => "not-found",
            ErrorKind::MethodNotAllowed => "method-not-allowed",
            ErrorKind::EmailTaken => "email-taken",
            ErrorKind::SlugTaken => "slug-taken",
            ErrorKind::SlugImmutable => "slug-immutable",
            ErrorKind::Conflict => "conflict",
            ErrorKind::TokenInvalid => "token-invalid",
            ErrorKind::TokenExpired => "token-expired",
            ErrorKind::InvitationAlreadyAccepted => "invitation-already-accepted",
            ErrorKind::InvitationRevoked => "invitation-revoked",
            ErrorKind::InvitationEmailMismatch => "invitation-email-mismatch",
            ErrorKind::AlreadyMember => "already-member",
            ErrorKind::TooManyAttempts => "too-many-attempts",
            ErrorKind::IpNotAllowed => "ip-not-allowed",
            ErrorKind::AllowlistExcludesCaller => "allowlist-excludes-caller",
            ErrorKind::InsufficientScope => "insufficient-scope",
            ErrorKind::ToolNameCollision => "tool-name-collision",
            ErrorKind::PayloadTooLarge => "payload-too-large",
            ErrorKind::RequestTimeout => "request-timeout",
            ErrorKind::MethodNotImplemented => "method-not-implemented",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
            ErrorKind::MfaCodeInvalid => "mfa-code-invalid",
            ErrorKind::MfaPendingInvalid => "mfa-pending-invalid",
            ErrorKind::PinRequired => "pin-required",
            ErrorKind::PinInvalid => "pin-invalid",
            ErrorKind::PinLocked => "pin-locked",
            ErrorKind::PinNotSet => "pin-not-set",
            ErrorKind::PasskeyInvalid => "passkey-invalid",
            ErrorKind::PasskeysUnavailable => "passkeys-unavailable",
            ErrorKind::MfaRequired => "mfa-required",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::Validation | ErrorKind::SlugImmutable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::MalformedRequest | ErrorKind::TokenInvalid => StatusCode::BAD_REQUEST,
            ErrorKind::AuthenticationRequired
            | ErrorKind::InvalidCredentials
            | ErrorKind::SessionExpired => StatusCode::UNAUTHORIZED,
            ErrorKind::CsrfRejected
            | ErrorKind::Forbidden
            | ErrorKind::InsufficientRole
            | ErrorKind::InvitationEmailMismatch
            | ErrorKind::IpNotAllowed
            | ErrorKind::InsufficientScope
            | ErrorKind::MfaRequired => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::EmailTaken
            | ErrorKind::SlugTaken
            | ErrorKind::Conflict
            | ErrorKind::InvitationAlreadyAccepted
            | ErrorKind::AlreadyMember
            | ErrorKind::AllowlistExcludesCaller
            | ErrorKind::ToolNameCollision => StatusCode::CONFLICT,
            ErrorKind::TokenExpired | ErrorKind::InvitationRevoked => StatusCode::GONE,
            ErrorKind::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::MethodNotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::MfaCodeInvalid | ErrorKind::MfaPendingInvalid => StatusCode::UNAUTHORIZED,
            ErrorKind::PinRequired | ErrorKind::PinInvalid => StatusCode::FORBIDDEN,
            ErrorKind::PinLocked => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::PinNotSet => StatusCode::CONFLICT,
            ErrorKind::PasskeyInvalid => StatusCode::BAD_REQUEST,
            ErrorKind::PasskeysUnavailable => StatusCode::CONFLICT,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ErrorKind::Validation => "The request has invalid fields",
            ErrorKind::MalformedRequest => "The request could not be read",
            ErrorKind::AuthenticationRequired => "Authentication required",
            ErrorKind::InvalidCredentials => "Email or password is incorrect",
            ErrorKind::SessionExpired => "Your session has expired; log in again",
            ErrorKind::CsrfRejected => "Cross-site request refused",
            ErrorKind::Forbidden => "Not allowed",
            ErrorKind::InsufficientRole => "Your role in this organization does not allow this",
            ErrorKind::NotFound => "Not found",
            ErrorKind::MethodNotAllowed => "Method not allowed",
            ErrorKind::EmailTaken => "An account with this email already exists",
            ErrorKind::SlugTaken => "This slug is already in use",
            ErrorKind::SlugImmutable => "The organization slug cannot be changed",
            ErrorKind::Conflict => "The request conflicts with the current state",
            ErrorKind::TokenInvalid => "The link or token is invalid",
            ErrorKind::TokenExpired => "The link or token has expired",
            ErrorKind::InvitationAlreadyAccepted => "This invitation has already been accepted",
            ErrorKind::InvitationRevoked => "This invitation has been revoked",
            ErrorKind::InvitationEmailMismatch => {
                "This invitation was sent to another email address"
            }
            ErrorKind::AlreadyMember => "Already a member of this organization",
            ErrorKind::TooManyAttempts => "Too many attempts; try again later",
            ErrorKind::IpNotAllowed => "Your address is not in this organization's IP allowlist",
            ErrorKind::AllowlistExcludesCaller => "This allowlist would lock you out",
            ErrorKind::InsufficientScope => "The API key lacks the scope this request needs",
            ErrorKind::ToolNameCollision => {
                "Two connectors would expose a tool under the same name"
            }
            ErrorKind::PayloadTooLarge => "The request body is too large",
            ErrorKind::RequestTimeout => "The request was not received in time",
            ErrorKind::MethodNotImplemented => "This server does not implement that method",
            ErrorKind::Unavailable => "Temporarily unavailable; try again",
            ErrorKind::Internal => "Internal server error",
            ErrorKind::MfaCodeInvalid => "The authentication code is incorrect",
            ErrorKind::MfaPendingInvalid => {
                "This sign-in attempt is unknown, used or expired; log in again"
            }
            ErrorKind::PinRequired => "This action needs your PIN",
            ErrorKind::PinInvalid => "The PIN is incorrect",
            ErrorKind::PinLocked => "Too many wrong PINs; try again later",
            ErrorKind::PinNotSet => "Set a personal PIN first",
            ErrorKind::PasskeyInvalid => "The passkey was not accepted",
            ErrorKind::PasskeysUnavailable => {
                "Passkeys need the server's public URL to be a domain name"
            }
            ErrorKind::MfaRequired => {
                "This organization requires two-factor authentication; set it up first"
            }
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub detail: Option<String>,
    pub fields: Vec<FieldError>,
    pub retry_after: Option<u64>,
    /// Logged, never sent.
    pub source: Option<anyhow::Error>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            detail: None,
            fields: Vec::new(),
            retry_after: None,
            source: None,
        }
    }
    pub fn with_detail(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            detail: Some(detail.into()),
            ..Self::new(kind)
        }
    }
    pub fn not_found(what: &str) -> Self {
        Self::with_detail(ErrorKind::NotFound, format!("{what} not found"))
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::with_detail(ErrorKind::Conflict, detail)
    }
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Validation::default().add(field, message).into_error()
    }
    /// 429 `too-many-attempts` with `Retry-After`; `what` says what there were too many
    /// of ("wrong codes", "emails to this address").
    pub fn too_many(what: &str, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::with_detail(
                ErrorKind::TooManyAttempts,
                format!("too many {what}; try again in {retry_after} seconds"),
            )
        }
    }
    /// 401 `invalid-credentials` naming the password field that was wrong.
    pub fn wrong_password(field: &str) -> Self {
        Self {
            fields: vec![gatehouse_types::FieldError {
                field: field.into(),
                message: "is incorrect".into(),
            }],
            ..Self::with_detail(ErrorKind::InvalidCredentials, "the password is incorrect")
        }
    }
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self {
            source: Some(e.into()),
            ..Self::new(ErrorKind::Internal)
        }
    }

    pub fn to_problem(&self) -> Problem {
        Problem {
            type_: format!("{PROBLEM_BASE}{}", self.kind.code()),
            title: self.kind.title().to_string(),
            status: self.kind.status().as_u16(),
            detail: self.detail.clone(),
            code: self.kind.code().to_string(),
            errors: self.fields.clone(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.code())?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        if let Some(s) = &self.source {
            write!(f, " ({s:#})")?;
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind.status()
    }

    fn error_response(&self) -> HttpResponse {
        // A method we do not implement is the client's doing, not ours.
        if self.kind.status().is_server_error() && self.kind != ErrorKind::MethodNotImplemented {
            tracing::error!(error = %self, "request failed");
        }
        let mut resp = HttpResponse::build(self.kind.status());
        resp.content_type("application/problem+json");
        if let Some(secs) = self.retry_after {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.kind == ErrorKind::AuthenticationRequired || self.kind == ErrorKind::SessionExpired
        {
            resp.insert_header((header::WWW_AUTHENTICATE, "Session"));
        }
        resp.json(self.to_problem())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        // SQLite answers "database is locked" under write contention: a retry helps.
        let text = e.to_string();
        if text.contains("database is locked") || text.contains("SQLITE_BUSY") {
            return Self {
                retry_after: Some(1),
                source: Some(e.into()),
                ..Self::new(ErrorKind::Unavailable)
            };
        }
        Self::internal(e)
    }
}

impl From<sea_orm::TransactionError<ApiError>> for ApiError {
    fn from(e: sea_orm::TransactionError<ApiError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(api) => api,
        }
    }
}

/// Collects field errors so a client learns about all of them at once.
#[derive(Default)]
pub struct Validation(Vec<FieldError>);

impl Validation {
    pub fn add(mut self, field: &str, message: impl Into<String>) -> Self {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        self
    }
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }
    /// A one-line name, trimmed. Its length is counted as sent, the way the schema's
    /// `maxLength` counts it, so trimming never lets a longer value through.
    pub fn name(&mut self, field: &str, raw: &str, max: usize) -> String {
        let t = raw.trim();
        if t.is_empty() || raw.chars().count() > max {
            self.push(field, format!("1 to {max} printable characters"));
        } else if t.chars().any(char::is_control) {
            self.push(field, "must not contain control characters");
        }
        t.to_string()
    }
    pub fn into_error(self) -> ApiError {
        let detail = self
            .0
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            detail: Some(detail),
            fields: self.0,
            ..ApiError::new(ErrorKind::Validation)
        }
    }
    pub fn finish(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }
}

/// Problem responses for body, path and query errors that actix produces before a
/// handler runs.
pub fn json_config() -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, _req| {
            use actix_web::error::JsonPayloadError as E;
            let e = match &err {
                E::OverflowKnownLength { .. } | E::Overflow { .. } => {
                    ApiError::new(ErrorKind::PayloadTooLarge)
                }
                E::ContentType => ApiError::with_detail(
                    ErrorKind::MalformedRequest,
                    "expected Content-Type: application/json",
                ),
                E::Deserialize(de) if de.is_data() => {
                    ApiError::with_detail(ErrorKind::Validation, de.to_string())
                }
                other => ApiError::with_detail(ErrorKind::MalformedRequest, other.to_string()),
            };
            e.into()
        })
}

pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::with_detail(ErrorKind::Validation, err.to_string()).into()
    })
}

pub fn path_config() -> actix_web::web::PathConfig {
    // A malformed id in the path names nothing that exists.
    actix_web::web::PathConfig::default().error_handler(|err, req| {
        // `DELETE /me/sessions/revoke-others` reaches `DELETE /me/sessions/{id}`: a
        // path that is a route of its own, asked with a method it does not serve.
        let method = req.method().as_str();
        if super::methods::allowed(req.path()).is_some_and(|m| !m.iter().any(|a| a == method)) {
            return actix_web::error::InternalError::from_response(
                err,
                super::methods::not_routed(req),
            )
            .into();
        }
        ApiError::not_found("resource").into()
    })
}

impl std::error::Error for ApiError {}

/// Errors actix renders itself as `text/plain` (a body over a `PayloadConfig` limit, a
/// `Bytes` or `String` extractor that fails, an unreadable form or query that a handler
/// did not map) become problem+json with a stable `type`, keeping their status. Handler
/// errors that already render themselves (problem+json, OAuth JSON) pass untouched.
pub async fn plain_errors_as_problems<B: actix_web::body::MessageBody>(
    req: actix_web::dev::ServiceRequest,
    next: impl AsyncFnOnce(
        actix_web::dev::ServiceRequest,
    ) -> Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::EitherBody<B>>, actix_web::Error> {
    let res = next(req).await?;
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    let Some(err) = res.response().error().filter(|_| plain) else {
        return Ok(res.map_into_left_body());
    };
    let status = res.status();
    let kind = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::PayloadTooLarge,
        StatusCode::NOT_FOUND => ErrorKind::NotFound,
        s if s.is_server_error() => ErrorKind::Internal,
        _ => ErrorKind::MalformedRequest,
    };
    let e = if kind == ErrorKind::Internal {
        ApiError::internal(anyhow::anyhow!("{err}"))
    } else {
        ApiError::with_detail(kind, err.to_string())
    };
    let mut problem = e.to_problem();
    problem.status = status.as_u16();
    let mut resp = e.error_response();
    *resp.status_mut() = status;
    let resp = resp.set_body(actix_web::web::Bytes::from(
        serde_json::to_vec(&problem).unwrap_or_default(),
    ));
    let (req, _) = res.into_parts();
    Ok(actix_web::dev::ServiceResponse::new(req, resp.map_into_boxed_body()).map_into_right_body())
}
