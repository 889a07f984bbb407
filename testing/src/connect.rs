//! A local stand-in for Amazon Connect and the Connect Participant Service: an HTTP server
//! that answers the calls the agent desk and connect-records make as the API reference
//! documents them, and records every request, so tests drive the real SDK clients.

use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const INSTANCE_ID: &str = "0b5f7b6e-1c2d-4e3f-8a9b-0c1d2e3f4a5b";
pub const FLOW_ID: &str = "8c4e2a10-7b3d-4f6e-9a1c-2d3e4f5a6b7c";
pub const TOPIC_ARN: &str = "arn:aws:sns:eu-central-1:123456789012:servicekanal-dev-chat-streaming";
/// The chat contact every `StartChatContact` starts (the samples in `events/` use it too).
pub const CHAT_CONTACT_ID: &str = "2f6c3c0e-5a3b-4d1e-9c61-7b2f0a9d4e11";
pub const CUSTOMER_PARTICIPANT_TOKEN: &str = "participant-token-customer";
pub const SYSTEM_PARTICIPANT_TOKEN: &str = "participant-token-system";
/// Connections expire this far in the future unless a test says otherwise.
pub const CONNECTION_EXPIRY: &str = "2999-01-01T00:00:00.000Z";

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// The participant API's `X-Amz-Bearer` token.
    pub bearer: Option<String>,
    pub body: Value,
}

pub struct ConnectStandIn {
    pub server: MockServer,
}

/// The connection token a participant token gets: readable in the recorded requests.
pub fn connection_token_of(participant_token: &str) -> String {
    format!("connection-of-{participant_token}")
}

struct Connection;

impl Respond for Connection {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let participant = bearer(request).unwrap_or_default();
        ResponseTemplate::new(200).set_body_json(json!({
            "ConnectionCredentials": {
                "ConnectionToken": connection_token_of(&participant),
                "Expiry": CONNECTION_EXPIRY,
            },
            "Websocket": { "Url": "wss://example.invalid/connect", "ConnectionExpiry": CONNECTION_EXPIRY },
        }))
    }
}

#[derive(Default)]
struct Sent(AtomicUsize);

impl Respond for Sent {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json(json!({
            "Id": format!("sent-{n}"),
            "AbsoluteTime": "2026-11-30T09:15:02.123Z",
        }))
    }
}

fn bearer(request: &Request) -> Option<String> {
    request
        .headers
        .get("x-amz-bearer")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// An error body as Connect's REST-JSON protocol sends it.
pub fn connect_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("x-amzn-errortype", code)
        .set_body_json(json!({ "message": message }))
}

impl ConnectStandIn {
    /// A stand-in where every call succeeds. Tests mount failures on top (`mount_first`).
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        Mock::given(method("PUT"))
            .and(path("/contact/chat"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "ContactId": CHAT_CONTACT_ID,
                "ParticipantId": "participant-customer",
                "ParticipantToken": CUSTOMER_PARTICIPANT_TOKEN,
            })))
            .with_priority(10)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/contact/start-streaming"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({ "StreamingId": "streaming-1" })),
            )
            .with_priority(10)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/contact/create-participant"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "ParticipantId": "participant-system",
                "ParticipantCredentials": {
                    "ParticipantToken": SYSTEM_PARTICIPANT_TOKEN,
                    "Expiry": CONNECTION_EXPIRY,
                },
            })))
            .with_priority(10)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/participant/connection"))
            .respond_with(Connection)
            .with_priority(10)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex("^/participant/(message|event)$"))
            .respond_with(Sent::default())
            .with_priority(10)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/contact/attributes"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .with_priority(10)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/contact/stop"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .with_priority(10)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/participant/disconnect"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .with_priority(10)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex("^/contact/delete/[^/]+/[^/]+$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .with_priority(10)
            .mount(&server)
            .await;
        Self { server }
    }

    /// Answers the next `times` calls to `route` (method, path) with `response`, before the
    /// default answer takes over again.
    pub async fn mount_first(&self, route: (&str, &str), response: ResponseTemplate, times: u64) {
        Mock::given(method(route.0))
            .and(path(route.1))
            .respond_with(response)
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Clients of both APIs pointed at the stand-in; retries as in production (the SDK's
    /// standard mode) but with millisecond backoff.
    pub fn clients(&self) -> (aws_sdk_connect::Client, aws_sdk_connectparticipant::Client) {
        use aws_sdk_connect::config::{BehaviorVersion, Credentials, Region};
        let retry = aws_sdk_connect::config::retry::RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1))
            .with_max_backoff(Duration::from_millis(5));
        let credentials = Credentials::new("testing", "testing", None, None, "stand-in");
        let connect = aws_sdk_connect::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-central-1"))
            .credentials_provider(credentials.clone())
            .endpoint_url(self.server.uri())
            .retry_config(retry.clone())
            .build();
        let participant = aws_sdk_connectparticipant::Config::builder()
            .behavior_version(aws_sdk_connectparticipant::config::BehaviorVersion::latest())
            .region(aws_sdk_connectparticipant::config::Region::new(
                "eu-central-1",
            ))
            .credentials_provider(credentials)
            .endpoint_url(self.server.uri())
            .retry_config(retry)
            .build();
        (
            aws_sdk_connect::Client::from_conf(connect),
            aws_sdk_connectparticipant::Client::from_conf(participant),
        )
    }

    /// The Connect chat desk on this stand-in (masked customer names, the shipped texts).
    pub fn desk(
        &self,
        clock: servicekanal_shared::ports::clock::SharedClock,
    ) -> servicekanal_shared::ports::desk::connect::ConnectDesk {
        use servicekanal_shared::ports::desk::connect::{
            ConnectDesk, ConnectDeskConfig, CustomerName, DeskTexts,
        };
        let (connect, participant) = self.clients();
        ConnectDesk::new(
            connect,
            participant,
            ConnectDeskConfig {
                instance_id: INSTANCE_ID.into(),
                contact_flow_id: FLOW_ID.into(),
                streaming_topic_arn: TOPIC_ARN.into(),
                customer_name: CustomerName::Masked,
                texts: DeskTexts::embedded(),
            },
            clock,
        )
    }

    /// The requests as Connect acts on them: a repeated client token is the same request
    /// (Connect answers it again and does nothing new), so repeats are left out.
    pub async fn effective_calls(&self) -> Vec<Call> {
        let mut tokens: Vec<String> = Vec::new();
        let mut calls = self.calls().await;
        calls.retain(|call| match call.body["ClientToken"].as_str() {
            Some(token) if tokens.iter().any(|t| t == token) => false,
            Some(token) => {
                tokens.push(token.to_owned());
                true
            }
            None => true,
        });
        calls
    }

    /// Whether a participant-API call was made with the system participant's connection.
    pub fn by_system(call: &Call) -> bool {
        call.bearer
            .as_deref()
            .is_some_and(|b| b == connection_token_of(SYSTEM_PARTICIPANT_TOKEN))
    }

    /// Every request so far, oldest first.
    pub async fn calls(&self) -> Vec<Call> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| Call {
                method: r.method.to_string(),
                path: r.url.path().to_owned(),
                bearer: bearer(r),
                body: serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            })
            .collect()
    }

    /// The calls to one path.
    pub async fn calls_to(&self, path: &str) -> Vec<Call> {
        self.calls()
            .await
            .into_iter()
            .filter(|c| c.path == path)
            .collect()
    }

    /// The chat messages sent, as (participant token the connection belongs to, text).
    pub async fn chat_messages(&self) -> Vec<(String, String)> {
        self.calls_to("/participant/message")
            .await
            .into_iter()
            .map(|c| {
                let token = c.bearer.unwrap_or_default();
                let participant = token
                    .strip_prefix("connection-of-")
                    .unwrap_or(&token)
                    .to_owned();
                (
                    participant,
                    c.body["Content"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}
