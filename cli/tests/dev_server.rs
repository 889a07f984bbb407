//! The local stack's HTTP server: the control API the page uses, over real HTTP.

use serde_json::{Value, json};
use servicekanal_cli::dev::DevServer;

use crate::common::{cli, servicekanal};

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

    // The statistics keep what happened, without Paula: her two messages, and the deletions.
    let stats = get(&base, "/local/stats").await;
    let messages = stats["message_events"]["rows"].as_array().unwrap();
    let mut actors: Vec<&str> = messages
        .iter()
        .map(|m| m["actor"].as_str().unwrap())
        .collect();
    actors.sort();
    assert_eq!(actors, ["bot", "customer"], "{stats}");
    let deleted: i64 = stats["deletions"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["retention_class"] == "bot-7d")
        .map(|r| r["items"].as_i64().unwrap())
        .sum();
    assert!(deleted >= 3, "{stats}");
    let text = stats.to_string();
    for personal in ["4915790000001", "Paula", "Neumann", "Hallo"] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
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

#[tokio::test(flavor = "multi_thread")]
async fn a_call_leaves_a_callback_that_sales_lists_and_marks_done_with_the_cli() {
    let (base, _dir) = start().await;
    let (status, answer) = post(
        &base,
        "/local/calls",
        json!({"caller": "+4917612345678", "name": "Max Muster", "topic": "Geräte",
               "window": "morgen zwischen 10 und 12 Uhr"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "ok", "{answer}");
    let reference = answer["reference"].as_str().unwrap().to_owned();
    // A call with a premium number is refused with the field to ask again for.
    let (_, refused) = post(
        &base,
        "/local/calls",
        json!({"caller": "+4917612345678", "name": "Max", "topic": "Geräte",
               "window": "morgen 10-12", "callback_number": "0900 123456"}),
    )
    .await;
    assert_eq!(
        (refused["status"].as_str(), refused["field"].as_str()),
        (Some("invalid"), Some("phone"))
    );

    let base_for_cli = base.clone();
    let listed = tokio::task::spawn_blocking(move || {
        servicekanal(&["callbacks", "list", "--local", &base_for_cli])
    })
    .await
    .unwrap();
    assert!(listed.0, "{}", listed.1);
    assert!(
        listed.1.contains(&reference) && listed.1.contains("Geräte"),
        "{}",
        listed.1
    );
    assert!(
        listed.1.contains("+4917612345678") && listed.1.contains("10:00 - 12:00"),
        "{}",
        listed.1
    );

    let (b, r) = (base.clone(), reference.clone());
    let done = tokio::task::spawn_blocking(move || {
        servicekanal(&["callbacks", "done", &r, "--local", &b])
    })
    .await
    .unwrap();
    assert!(done.0, "{}", done.1);
    assert_eq!(get(&base, "/local/callbacks").await, json!([]));
    let (b, r) = (base.clone(), reference.clone());
    let again = tokio::task::spawn_blocking(move || {
        servicekanal(&["callbacks", "done", &r, "--local", &b])
    })
    .await
    .unwrap();
    assert!(!again.0, "done twice is an error");
    assert!(again.1.contains("no open callback request"), "{}", again.1);
}

#[tokio::test(flavor = "multi_thread")]
async fn ops_export_hold_release_and_erase_a_person_with_the_cli() {
    let (base, dir) = start().await;
    let (status, _) = post(
        &base,
        "/local/messages",
        json!({"wa_id": "4917612345678", "name": "Erika Mustermann",
               "message": {"kind": "text", "body": "Meine Rechnung ist falsch"}}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, call) = post(
        &base,
        "/local/calls",
        json!({"caller": "+4917612345678", "name": "Erika Mustermann", "topic": "Geräte",
               "window": "morgen zwischen 10 und 12 Uhr"}),
    )
    .await;
    assert_eq!((status, call["status"].as_str()), (200, Some("ok")));
    let local = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--local".to_owned(), base.clone()]);
        all
    };

    // Access: one JSON document in a file.
    let out = dir.path().join("erika.json");
    let out_arg = out.to_str().unwrap();
    let (ok, text) = cli(local(&[
        "export",
        "--phone",
        "0176 12345678",
        "--out",
        out_arg,
    ]))
    .await;
    assert!(ok, "{text}");
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(document["items"].as_u64().unwrap() >= 4, "{document}");
    assert_eq!(
        document["data"]["callback-request"][0]["content"]["phone"],
        "+4917612345678"
    );
    assert!(document.to_string().contains("Meine Rechnung ist falsch"));

    // A hold on her callback request, listed with its reason, then released.
    let reference = call["reference"].as_str().unwrap().to_owned();
    let (ok, text) = cli(local(&[
        "holds",
        "place",
        "--reference",
        &reference,
        "--reason",
        "Az. 4 O 117/26",
    ]))
    .await;
    assert!(
        ok && text.contains("held 1 items (callback-3m 1)"),
        "{text}"
    );
    let (ok, listed) = cli(local(&["holds"])).await;
    assert!(
        ok && listed.contains("Az. 4 O 117/26") && listed.contains(&reference),
        "{listed}"
    );
    assert!(
        !listed.contains("Erika") && !listed.contains("4917612345678"),
        "{listed}"
    );
    assert_eq!(
        get(&base, "/local/callbacks").await,
        json!([]),
        "blocked from use"
    );
    let key = get(&base, "/local/holds").await[0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ok, text) = cli(local(&["holds", "release", "--key", &key])).await;
    assert!(ok && text.contains("released 1 items"), "{text}");
    let listed = get(&base, "/local/callbacks").await;
    assert_eq!(listed[0]["reference"], reference.as_str(), "listed again");
    let (ok, text) = cli(local(&["holds", "release", "--key", &key])).await;
    assert!(!ok && text.contains("not under legal hold"), "{text}");

    // Erasure: counts per class, nothing left; a bad number is refused and changes nothing.
    let (ok, text) = cli(local(&["erase", "--phone", "keine Nummer"])).await;
    assert!(
        !ok && text.contains("cannot read the phone number"),
        "{text}"
    );
    let (ok, text) = cli(local(&["erase", "--phone", "+49 176 12345678"])).await;
    assert!(ok, "{text}");
    assert!(
        text.contains("callback-3m 2") && text.contains("0 kept under legal hold"),
        "{text}"
    );
    let (ok, text) = cli(local(&["export", "--phone", "+4917612345678"])).await;
    assert!(ok, "{text}");
    let after: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(after["items"], 0);
}

/// The fault switch through the control API: a plan it cannot read is refused with the
/// reason and changes nothing; a plan it reads is on at once, and its faults are counted.
#[tokio::test]
async fn the_fault_switch_is_set_and_read_through_the_control_api() {
    let (base, _dir) = start().await;
    let off = get(&base, "/local/faults").await;
    assert_eq!(off["plan"]["graph"], 0.0);
    assert_eq!(off["counts"]["injected"], json!({}));

    let (status, refused) = post(&base, "/local/faults", json!({"plan": "graph=2"})).await;
    assert_eq!(status, 400);
    assert!(
        refused["error"].as_str().unwrap().contains("graph=\"2\""),
        "{refused}"
    );
    assert_eq!(get(&base, "/local/faults").await["plan"], off["plan"]);

    // Every Graph API call fails: Lisa's answer cannot go out, the message stays queued.
    let (status, on) = post(&base, "/local/faults", json!({"plan": "graph=1,seed=3"})).await;
    assert_eq!(status, 200);
    assert_eq!(on["plan"]["graph"], 1.0);
    let (status, _) = post(
        &base,
        "/local/messages",
        json!({"wa_id": "4915790000002", "name": "Tom Fehler",
               "message": {"kind": "text", "body": "Hallo"}}),
    )
    .await;
    assert_eq!(status, 200, "the webhook took the message");
    let counted = get(&base, "/local/faults").await;
    let injected: u64 = counted["counts"]["injected"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(kind, _)| kind.starts_with("graph."))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum();
    assert!(injected >= 1, "{counted}");
    // Not answered: still queued, as a message or a turn under way (a reply WhatsApp took
    // before losing its answer may show on the phone).
    assert_eq!(counted["queued"], 1, "{counted}");

    // Switched off, the retry tick answers it within seconds and the queue empties.
    post(&base, "/local/faults", json!({"plan": ""})).await;
    let mut answered = false;
    for _ in 0..50 {
        let phone = get(&base, "/local/phone?wa_id=4915790000002").await;
        let replied = phone
            .as_array()
            .unwrap()
            .iter()
            .any(|line| line["from"] == "business");
        if replied && get(&base, "/local/faults").await["due"] == 0 {
            answered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        answered,
        "the queued message was answered once the switch was off"
    );
}

/// A tunnel to the port, or a web page that rebinds its own name to 127.0.0.1, reaches the
/// server under another name: the control API and the page refuse it, the webhook (signed by
/// WhatsApp) still answers.
#[tokio::test]
async fn the_control_api_answers_loopback_names_only() {
    let (base, _dir) = start().await;
    let http = reqwest::Client::new();
    for host in [
        "servicekanal.example.ngrok.app",
        "attacker.example:8080",
        "127.0.0.2",
    ] {
        for path in ["/", "/local/records", "/local/clock"] {
            let answer = http
                .get(format!("{base}{path}"))
                .header("host", host)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 403, "{host}{path}");
        }
        let erase = http
            .post(format!("{base}/local/privacy/erase"))
            .header("host", host)
            .json(&json!({"phone": "+4915790000001"}))
            .send()
            .await
            .unwrap();
        assert_eq!(erase.status(), 403, "{host}");
        let verify = http
            .get(format!(
                "{base}/webhook?hub.mode=subscribe&hub.verify_token=servicekanal-local-verify-token&hub.challenge=42"
            ))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(verify.status(), 200, "{host}: the webhook stays reachable");
    }
    let port = base.rsplit(':').next().unwrap();
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let answer = http
            .get(format!("{base}/local/clock"))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{host}");
    }
}
