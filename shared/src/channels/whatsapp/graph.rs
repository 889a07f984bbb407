//! The Graph API adapter of the `WhatsApp` port: `POST /<version>/<phone-number-id>/messages`,
//! with bounded exponential backoff and jitter on throttling and server errors.

use super::{OutboundContent, Recipient, Sent, WhatsApp, WhatsAppError};
use crate::policy::mask::Secret;
use crate::runtime::https::{self, HttpsClient, HttpsError};
use async_trait::async_trait;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body_util::BodyExt;
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// The Graph API version used unless `GRAPH_API_VERSION` names another. Meta keeps a version
/// about two years: v21.0 ends 2027-01-21, v22.0 2027-05-20; v26.0 is current since July 2026
/// (docs/operations.md says how to move).
pub const DEFAULT_API_VERSION: &str = "v26.0";
/// The setting that overrides [`DEFAULT_API_VERSION`] (template parameter `GraphApiVersion`).
pub const API_VERSION_ENV: &str = "GRAPH_API_VERSION";

/// A Graph API version as its URLs write it: `v` and major.minor, e.g. `v26.0`.
pub fn parse_api_version(raw: &str) -> Result<String, WhatsAppError> {
    let raw = raw.trim();
    let valid = raw
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.chars().all(|c| c.is_ascii_digit())
                && minor.chars().all(|c| c.is_ascii_digit())
        });
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(WhatsAppError::Rejected {
            code: 0,
            message: format!("{API_VERSION_ENV} must look like v26.0, got {raw:?}"),
        })
    }
}

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // Lambda waits for us; keep the worst case within a few seconds.
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// "Full jitter": a random delay up to the exponential bound.
    fn delay(&self, attempt: u32) -> Duration {
        let bound = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let millis = bound.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

#[derive(Clone, Debug)]
pub struct GraphApiConfig {
    pub base_url: String,
    pub api_version: String,
    pub phone_number_id: String,
    pub access_token: Secret<String>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
}

impl GraphApiConfig {
    pub fn new(phone_number_id: impl Into<String>, access_token: Secret<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            api_version: DEFAULT_API_VERSION.into(),
            phone_number_id: phone_number_id.into(),
            access_token,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Clone, Debug)]
pub struct GraphApi {
    http: HttpsClient,
    config: GraphApiConfig,
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct SendResponse {
    #[serde(default)]
    messages: Vec<SentId>,
}

#[derive(Deserialize)]
struct SentId {
    id: String,
}

enum Attempt {
    Done(Value),
    Retry(WhatsAppError),
    Fail(WhatsAppError),
}

/// Maps a Graph API error to a typed error, and says whether to retry.
fn classify(status: u16, code: i64, message: String) -> Attempt {
    match code {
        131047 => Attempt::Fail(WhatsAppError::OutsideWindow),
        130429 | 131056 | 80007 | 4 => {
            Attempt::Retry(WhatsAppError::Throttled { code, attempts: 0 })
        }
        131026 | 131030 | 131021 | 131045 | 131031 => {
            Attempt::Fail(WhatsAppError::InvalidRecipient { code })
        }
        190 | 10 | 200 => Attempt::Fail(WhatsAppError::Unauthorized { code }),
        _ if status == 429 => Attempt::Retry(WhatsAppError::Throttled {
            code: code.max(429),
            attempts: 0,
        }),
        _ if status >= 500 || code == 131000 || code == 1 || code == 2 => {
            Attempt::Retry(WhatsAppError::Unavailable {
                attempts: 0,
                detail: format!("HTTP {status}, code {code}"),
            })
        }
        _ if status == 401 => Attempt::Fail(WhatsAppError::Unauthorized { code }),
        _ => Attempt::Fail(WhatsAppError::Rejected { code, message }),
    }
}

fn with_attempts(error: WhatsAppError, attempts: u32) -> WhatsAppError {
    match error {
        WhatsAppError::Throttled { code, .. } => WhatsAppError::Throttled { code, attempts },
        WhatsAppError::Unavailable { detail, .. } => {
            WhatsAppError::Unavailable { attempts, detail }
        }
        other => other,
    }
}

impl GraphApi {
    /// Sends through the function's HTTPS client ([`https::client`]).
    pub fn new(config: GraphApiConfig) -> Self {
        Self {
            http: https::client().clone(),
            config,
        }
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/{}/{}/messages",
            self.config.base_url.trim_end_matches('/'),
            self.config.api_version,
            self.config.phone_number_id
        )
    }

    /// One call: the response's status and body, or why there was none (within the timeout).
    async fn exchange(&self, payload: &Value) -> Result<(u16, Bytes), HttpsError> {
        let authorization = format!("Bearer {}", self.config.access_token.expose());
        let request = http::Request::post(self.messages_url())
            .header(http::header::AUTHORIZATION, authorization)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(SdkBody::from(
                serde_json::to_vec(payload).unwrap_or_default(),
            ))
            .map_err(|e| HttpsError::Request(e.into()))?;
        let timeout = self.config.timeout;
        let call = async {
            let response = self.http.send(request, None).await?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| HttpsError::Io(e.into()))?;
            Ok((status, body.to_bytes()))
        };
        tokio::time::timeout(timeout, call)
            .await
            .unwrap_or(Err(HttpsError::Timeout(timeout)))
    }

    async fn attempt(&self, payload: &Value) -> Attempt {
        let (status, body) = match self.exchange(payload).await {
            Ok(response) => response,
            Err(error) => {
                return Attempt::Retry(WhatsAppError::Unavailable {
                    attempts: 0,
                    detail: match error {
                        HttpsError::Timeout(_) => "timeout".into(),
                        _ => "transport error".into(),
                    },
                });
            }
        };
        if (200..300).contains(&status) {
            return Attempt::Done(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }
        let (code, message) = serde_json::from_slice::<GraphErrorBody>(&body)
            .map(|b| (b.error.code, b.error.message))
            .unwrap_or((0, String::new()));
        classify(status, code, message)
    }

    async fn post(&self, payload: Value) -> Result<Value, WhatsAppError> {
        let policy = &self.config.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(&payload).await {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry(error) if attempt >= policy.max_attempts => {
                    return Err(with_attempts(error, attempt));
                }
                Attempt::Retry(error) => {
                    tracing::warn!(attempt, error = %error, "Graph API call failed, retrying");
                    tokio::time::sleep(policy.delay(attempt)).await;
                }
            }
        }
    }
}

/// The JSON body of a message, as the Cloud API documents it.
pub fn message_payload(to: &Recipient, content: &OutboundContent) -> Value {
    let base = |kind: &str, body: Value| {
        let mut v = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "type": kind,
        });
        // A phone number goes in `to`; a user without one is reached by user id (`recipient`).
        match to {
            Recipient::Phone(phone) => v["to"] = json!(phone),
            Recipient::UserId(user) => v["recipient"] = json!(user),
        }
        v[kind] = body;
        v
    };
    let footer = |f: &Option<String>| f.as_ref().map(|t| json!({ "text": t }));
    match content {
        OutboundContent::Text { body } => {
            base("text", json!({ "body": body, "preview_url": false }))
        }
        OutboundContent::Buttons {
            body,
            buttons,
            footer: f,
        } => {
            let mut interactive = json!({
                "type": "button",
                "body": { "text": body },
                "action": { "buttons": buttons.iter().map(|b| json!({
                    "type": "reply",
                    "reply": { "id": b.id, "title": b.title },
                })).collect::<Vec<_>>() },
            });
            if let Some(f) = footer(f) {
                interactive["footer"] = f;
            }
            base("interactive", interactive)
        }
        OutboundContent::List {
            body,
            button,
            sections,
            footer: f,
        } => {
            let mut interactive = json!({
                "type": "list",
                "body": { "text": body },
                "action": {
                    "button": button,
                    "sections": sections.iter().map(|s| {
                        let mut section = json!({ "rows": s.rows.iter().map(|r| {
                            let mut row = json!({ "id": r.id, "title": r.title });
                            if let Some(d) = &r.description { row["description"] = json!(d); }
                            row
                        }).collect::<Vec<_>>() });
                        if let Some(t) = &s.title { section["title"] = json!(t); }
                        section
                    }).collect::<Vec<_>>(),
                },
            });
            if let Some(f) = footer(f) {
                interactive["footer"] = f;
            }
            base("interactive", interactive)
        }
        OutboundContent::Link {
            body,
            display_text,
            url,
        } => base(
            "interactive",
            json!({
                "type": "cta_url",
                "body": { "text": body },
                "action": { "name": "cta_url", "parameters": { "display_text": display_text, "url": url } },
            }),
        ),
        OutboundContent::Template { name, language } => base(
            "template",
            json!({ "name": name, "language": { "code": language } }),
        ),
    }
}

#[async_trait]
impl WhatsApp for GraphApi {
    async fn send(&self, to: &Recipient, content: &OutboundContent) -> Result<Sent, WhatsAppError> {
        content.validate()?;
        let response = self.post(message_payload(to, content)).await?;
        let parsed: SendResponse =
            serde_json::from_value(response).map_err(|_| WhatsAppError::Rejected {
                code: 0,
                message: "response without message id".into(),
            })?;
        parsed
            .messages
            .into_iter()
            .next()
            .map(|m| Sent { wamid: m.id })
            .ok_or(WhatsAppError::Rejected {
                code: 0,
                message: "response without message id".into(),
            })
    }

    async fn mark_read(&self, wamid: &str, typing: bool) -> Result<(), WhatsAppError> {
        let mut payload = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
        });
        if typing {
            payload["typing_indicator"] = json!({ "type": "text" });
        }
        self.post(payload).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_are_checked() {
        assert_eq!(parse_api_version(" v26.0 ").unwrap(), "v26.0");
        for bad in ["26.0", "v26", "v26.x", "latest", ""] {
            assert!(parse_api_version(bad).is_err(), "{bad:?}");
        }
    }
}
