//! How a call to Amazon Connect or its Participant Service failed, read once for both of
//! Connect's adapters (the chat desk and the contact records).

use aws_sdk_connect::config::http::HttpResponse;
use aws_sdk_connect::error::{ProvideErrorMetadata, SdkError};

/// What a failed call means for the caller.
#[derive(Debug)]
pub(crate) enum ConnectFailure {
    /// 403: a token or permission that does not work (an expired connection, a chat that is
    /// over, a missing IAM grant).
    Denied,
    /// The contact is unknown to Connect (never stored, or past Connect's 24 months).
    NotFound,
    /// Throttled, a server error, or no answer: worth trying again later.
    Later(String),
    /// Refused for good; `code` is Connect's error name (`InvalidRequestException`, ...).
    Refused { code: String, detail: String },
}

pub(crate) fn classify<E: ProvideErrorMetadata + std::error::Error>(
    error: SdkError<E, HttpResponse>,
) -> ConnectFailure {
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.code().unwrap_or_default().to_owned();
    let detail = match error.message() {
        Some(message) => format!("{code}: {message}"),
        None if code.is_empty() => error.to_string(),
        None => code.clone(),
    };
    match (status, code.as_str()) {
        (Some(403), _) | (_, "AccessDeniedException") => ConnectFailure::Denied,
        (_, "ResourceNotFoundException") => ConnectFailure::NotFound,
        (Some(429 | 500..=599), _) | (None, _) => ConnectFailure::Later(detail),
        _ => ConnectFailure::Refused { code, detail },
    }
}
