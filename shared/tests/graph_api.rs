//! The Graph API adapter against a local HTTP server that plays the Graph API.

use serde_json::json;
use servicekanal_shared::channels::whatsapp::graph::{GraphApi, GraphApiConfig, RetryPolicy};
use servicekanal_shared::channels::whatsapp::{
    ListRow, ListSection, OutboundContent, Recipient, ReplyButton, WhatsApp, WhatsAppError,
};
use servicekanal_shared::policy::mask::Secret;
use std::time::Duration;
use wiremock::matchers::{body_json, body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PATH: &str = "/v26.0/106540352242922/messages";
const TO: &str = "4917612345678";

fn to() -> Recipient {
    Recipient::Phone(TO.into())
}

/// The settings of a Graph API at `base_url`, with three quick tries.
fn config(base_url: String) -> GraphApiConfig {
    let mut config = GraphApiConfig::new("106540352242922", Secret("EAAG-test-token".into()));
    config.base_url = base_url;
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    config
}

fn client(server: &MockServer) -> GraphApi {
    GraphApi::new(config(server.uri()))
}

fn accepted(wamid: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": TO, "wa_id": TO }],
        "messages": [{ "id": wamid }],
    }))
}

fn graph_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": { "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf" }
    }))
}

fn text(body: &str) -> OutboundContent {
    OutboundContent::Text { body: body.into() }
}

#[tokio::test]
async fn sends_text_with_the_token_and_returns_the_message_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(header("authorization", "Bearer EAAG-test-token"))
        .and(body_json(json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": TO,
            "type": "text",
            "text": { "body": "Hallo Erika, ich bin Lisa.", "preview_url": false },
        })))
        .respond_with(accepted("wamid.OUT1"))
        .expect(1)
        .mount(&server)
        .await;
    let sent = client(&server)
        .send(&to(), &text("Hallo Erika, ich bin Lisa."))
        .await
        .unwrap();
    assert_eq!(sent.wamid, "wamid.OUT1");
}

#[tokio::test]
async fn a_contact_without_a_phone_number_is_reached_by_user_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(body_json(json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "recipient": "DE.7715320988410042",
            "type": "text",
            "text": { "body": "Hallo, ich bin Lisa.", "preview_url": false },
        })))
        .respond_with(accepted("wamid.OUT2"))
        .expect(1)
        .mount(&server)
        .await;
    let sent = client(&server)
        .send(
            &Recipient::UserId("DE.7715320988410042".into()),
            &text("Hallo, ich bin Lisa."),
        )
        .await
        .unwrap();
    assert_eq!(sent.wamid, "wamid.OUT2");
}

#[tokio::test]
async fn sends_buttons_lists_and_link_buttons_in_the_documented_shape() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(body_partial_json(
            json!({ "type": "interactive", "interactive": {
            "type": "button",
            "action": { "buttons": [
                { "type": "reply", "reply": { "id": "kind-customer", "title": "Ich bin Kundin" } },
                { "type": "reply", "reply": { "id": "kind-prospect", "title": "Noch nicht" } },
            ] },
        } }),
        ))
        .respond_with(accepted("wamid.B"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(body_partial_json(json!({ "interactive": {
            "type": "list",
            "action": { "button": "Themen", "sections": [{ "title": "Hilfe", "rows": [
                { "id": "topic-bill", "title": "Rechnung", "description": "Fragen zur Rechnung" },
            ] }] },
        } })))
        .respond_with(accepted("wamid.L"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(body_partial_json(json!({ "interactive": {
            "type": "cta_url",
            "action": { "name": "cta_url", "parameters": { "display_text": "Zur Hilfe", "url": "https://example.com/hilfe" } },
        } })))
        .respond_with(accepted("wamid.U"))
        .expect(1)
        .mount(&server)
        .await;

    let api = client(&server);
    let buttons = OutboundContent::Buttons {
        body: "Bist du schon Kundin oder Kunde?".into(),
        buttons: vec![
            ReplyButton {
                id: "kind-customer".into(),
                title: "Ich bin Kundin".into(),
            },
            ReplyButton {
                id: "kind-prospect".into(),
                title: "Noch nicht".into(),
            },
        ],
        footer: None,
    };
    let list = OutboundContent::List {
        body: "Worum geht es?".into(),
        button: "Themen".into(),
        sections: vec![ListSection {
            title: Some("Hilfe".into()),
            rows: vec![ListRow {
                id: "topic-bill".into(),
                title: "Rechnung".into(),
                description: Some("Fragen zur Rechnung".into()),
            }],
        }],
        footer: None,
    };
    let link = OutboundContent::Link {
        body: "Hier steht alles.".into(),
        display_text: "Zur Hilfe".into(),
        url: "https://example.com/hilfe".into(),
    };
    assert_eq!(api.send(&to(), &buttons).await.unwrap().wamid, "wamid.B");
    assert_eq!(api.send(&to(), &list).await.unwrap().wamid, "wamid.L");
    assert_eq!(api.send(&to(), &link).await.unwrap().wamid, "wamid.U");
}

#[tokio::test]
async fn content_over_the_limits_is_refused_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted("x"))
        .expect(0)
        .mount(&server)
        .await;
    let four = OutboundContent::Buttons {
        body: "Zu viele".into(),
        buttons: (0..4)
            .map(|i| ReplyButton {
                id: format!("b{i}"),
                title: "Knopf".into(),
            })
            .collect(),
        footer: None,
    };
    let err = client(&server).send(&to(), &four).await.unwrap_err();
    assert!(
        matches!(err, WhatsAppError::Invalid(ref v) if v.field == "buttons"),
        "{err}"
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_with_backoff() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(graph_error(400, 130429, "Rate limit hit"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(accepted("wamid.LATE"))
        .expect(1)
        .mount(&server)
        .await;
    let sent = client(&server).send(&to(), &text("Geduld")).await.unwrap();
    assert_eq!(sent.wamid, "wamid.LATE");
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429))
        .expect(3)
        .mount(&server)
        .await;
    let err = client(&server).send(&to(), &text("x")).await.unwrap_err();
    assert_eq!(
        err,
        WhatsAppError::Throttled {
            code: 429,
            attempts: 3
        }
    );
    assert!(err.is_transient());

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(graph_error(500, 131000, "Something went wrong"))
        .expect(3)
        .mount(&server)
        .await;
    let err = client(&server).send(&to(), &text("x")).await.unwrap_err();
    assert!(
        matches!(err, WhatsAppError::Unavailable { attempts: 3, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_graph_api_that_does_not_answer_in_time_is_retried_then_reported() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted("wamid.late").set_delay(Duration::from_secs(5)))
        .expect(3)
        .mount(&server)
        .await;
    let mut config = config(server.uri());
    config.timeout = Duration::from_millis(100);
    let err = send_failing(config).await;
    assert_eq!(err, unavailable(3, "timeout"));
    assert!(err.is_transient());
}

/// What sending a text with `config` fails with.
async fn send_failing(config: GraphApiConfig) -> WhatsAppError {
    GraphApi::new(config)
        .send(&to(), &text("x"))
        .await
        .unwrap_err()
}

fn unavailable(attempts: u32, detail: &str) -> WhatsAppError {
    WhatsAppError::Unavailable {
        attempts,
        detail: detail.into(),
    }
}

#[tokio::test]
async fn an_unreachable_graph_api_is_a_transient_transport_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let mut config = config(format!("http://{address}"));
    config.retry.max_attempts = 1;
    assert_eq!(
        send_failing(config).await,
        unavailable(1, "transport error")
    );
}

#[tokio::test]
async fn permanent_errors_are_typed_and_not_retried() {
    for (status, code, expected) in [
        (400, 131047, WhatsAppError::OutsideWindow),
        (
            400,
            131026,
            WhatsAppError::InvalidRecipient { code: 131026 },
        ),
        (401, 190, WhatsAppError::Unauthorized { code: 190 }),
        (
            400,
            100,
            WhatsAppError::Rejected {
                code: 100,
                message: "Invalid parameter".into(),
            },
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(graph_error(
                status,
                code,
                if code == 100 {
                    "Invalid parameter"
                } else {
                    "refused"
                },
            ))
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server).send(&to(), &text("x")).await.unwrap_err();
        assert_eq!(err, expected);
        assert!(!err.is_transient());
    }
}

#[tokio::test]
async fn mark_read_shows_the_typing_indicator() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(body_json(json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.IN1",
            "typing_indicator": { "type": "text" },
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "success": true })))
        .expect(1)
        .mount(&server)
        .await;
    client(&server).mark_read("wamid.IN1", true).await.unwrap();
}

/// The local stack with a developer's real test number: sent through the Graph API, and
/// mirrored into the outbox the page reads; a refused message is not mirrored.
#[tokio::test]
async fn the_mirrored_outbox_shows_what_the_graph_api_took() {
    use servicekanal_shared::channels::whatsapp::outbox::{Mirrored, RecordingOutbox};
    use servicekanal_shared::ports::clock::ManualClock;
    use std::sync::Arc;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(body_partial_json(json!({ "text": { "body": "Hallo" } })))
        .respond_with(accepted("wamid.REAL1"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(body_partial_json(json!({ "text": { "body": "Zu spät" } })))
        .respond_with(graph_error(400, 131047, "Re-engagement message"))
        .mount(&server)
        .await;
    let clock = ManualClock::new(chrono::DateTime::from_timestamp(1_795_255_200, 0).unwrap());
    let outbox = Arc::new(RecordingOutbox::new(Arc::new(clock)));
    let mirrored = Mirrored {
        primary: Arc::new(client(&server)),
        outbox: outbox.clone(),
    };
    let sent = mirrored.send(&to(), &text("Hallo")).await.unwrap();
    assert_eq!(sent.wamid, "wamid.REAL1");
    assert!(matches!(
        mirrored.send(&to(), &text("Zu spät")).await,
        Err(WhatsAppError::OutsideWindow)
    ));
    let mirrored: Vec<_> = outbox.sent().into_iter().map(|e| (e.wamid, e.to)).collect();
    assert_eq!(mirrored, [("wamid.REAL1".to_owned(), to())]);
}
