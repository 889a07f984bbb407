//! The local stack's HTTP server: the control API the page uses, over real HTTP.

use serde_json::{Value, json};
use servicekanal_cli::dev::DevServer;

async fn start() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::open(dir.path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server.serve(listener));
    (base, dir)
}

async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn get(base: &str, path: &str) -> Value {
    reqwest::get(format!("{base}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_message_through_the_control_api_gets_lisas_answer_and_is_stored() {
    let (base, _dir) = start().await;
    let page = reqwest::get(format!("{base}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Servicekanal"));
    let (status, _) = post(
        &base,
        "/local/messages",
        json!({"wa_id": "4915790000001", "name": "Paula Neumann",
               "message": {"kind": "text", "body": "Hallo"}}),
    )
    .await;
    assert_eq!(status, 200);
    let phone = get(&base, "/local/phone?wa_id=4915790000001").await;
    let lines = phone.as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["from"], "user");
    assert_eq!(lines[1]["from"], "business");
    assert_eq!(lines[1]["received"]["kind"], "buttons");
    let records = get(&base, "/local/records").await;
    let kinds: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"contact") && kinds.contains(&"message"),
        "{kinds:?}"
    );
    assert!(
        records
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["retention_class"] == "bot-7d")
    );

    // Eight days on, the bot conversation is gone from the records.
    let (status, clock) = post(&base, "/local/clock", json!({"advance": "8d"})).await;
    assert_eq!(status, 200);
    assert!(clock["offset_seconds"].as_i64().unwrap() >= 8 * 86400);
    assert_eq!(get(&base, "/local/records").await, json!([]));
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_reason_and_change_nothing() {
    let (base, _dir) = start().await;
    let (status, body) = post(
        &base,
        "/local/messages",
        json!({"wa_id": "+49 abc", "message": {"kind": "text", "body": "Hallo"}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("wa_id"));
    let (status, body) = post(&base, "/local/clock", json!({"advance": "yesterday"})).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("yesterday"));
    assert_eq!(get(&base, "/local/clock").await["offset_seconds"], 0);
    assert_eq!(get(&base, "/local/records").await, json!([]));
    assert_eq!(get(&base, "/local/outbox").await, json!([]));
    // The webhook refuses what is not signed with the local app secret.
    let response = reqwest::Client::new()
        .post(format!("{base}/webhook"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}
