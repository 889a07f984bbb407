//! Lisa's review loop on the whole stack: what she misunderstood is scrubbed and waits for a
//! person no longer than the message (7 days); labelling keeps only an anonymous example.

use chrono::Duration;
use serde_json::json;
use servicekanal_cli::dev::DevServer;
use servicekanal_cli::privacy::Ops;
use servicekanal_cli::review;
use servicekanal_shared::domain::ReviewTrigger;
use servicekanal_shared::lisa::dialogue::ids;
use servicekanal_shared::policy::privacy::PersonRef;
use servicekanal_shared::ports::store::{PageRequest, Store};

use crate::common::{Chat, ERIKA};

async fn run(args: &[&str]) -> (bool, String) {
    crate::common::cli(args.iter().map(|a| (*a).to_owned()).collect()).await
}

/// A message Lisa cannot place, full of Erika's personal data.
const LOST: &str = "Hallo, hier ist Erika Mustermann, meine Nummer ist 0170 1234567 und meine Mail erika.mustermann@example.de. Wie wird eigentlich das Wetter morgen in Köln?";
const PERSONAL: [&str; 6] = [
    "Erika",
    "Mustermann",
    "0170",
    "1234567",
    "erika.mustermann@example.de",
    "4917612345678",
];

fn assert_no_personal_data(text: &str) {
    for personal in PERSONAL {
        assert!(
            !text.to_lowercase().contains(&personal.to_lowercase()),
            "{personal:?} in {text:?}"
        );
    }
}

#[tokio::test]
async fn a_misunderstood_message_is_reviewed_scrubbed_and_gone_with_its_message() {
    let mut chat = Chat::lisa_only();
    chat.say("Hallo").await;
    chat.tap(ids::KIND_CUSTOMER).await;
    chat.say(LOST).await;
    let items = review::list(chat.stack.store.as_ref()).await.unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_eq!(item.trigger, ReviewTrigger::Unsure);
    assert_eq!(item.guess, "unknown");
    assert!(item.text.contains("Wetter"), "{}", item.text);
    assert_no_personal_data(&item.text);
    // It lives exactly as long as the message: seven days.
    let messages = chat.messages().await;
    let (message, _) = messages
        .iter()
        .find(|(_, m)| m.id.to_string() == item.id)
        .expect("the reviewed message is stored");
    assert_eq!(item.expires_at, message.expires_at);

    chat.clock.advance(Duration::days(7));
    assert!(
        review::list(chat.stack.store.as_ref())
            .await
            .unwrap()
            .is_empty()
    );
    chat.stack.sweep().await.unwrap();
    let left = chat
        .stack
        .store
        .query("REVIEW", "", PageRequest::first(10))
        .await
        .unwrap();
    assert!(
        left.items.is_empty(),
        "deleted by the sweeper, not only hidden"
    );
}

#[tokio::test]
async fn an_answer_that_did_not_help_and_a_handover_after_an_answer_are_reviewed() {
    let mut chat = Chat::lisa_only();
    chat.say("Hallo").await;
    chat.tap(ids::KIND_CUSTOMER).await;
    chat.say("Wo finde ich meine PUK?").await;
    assert!(
        review::list(chat.stack.store.as_ref())
            .await
            .unwrap()
            .is_empty()
    );
    chat.tap(ids::HELPFUL_NO).await;
    let items = review::list(chat.stack.store.as_ref()).await.unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].trigger, ReviewTrigger::NotHelpful);
    assert_eq!(items[0].guess, "pin-puk");
    assert!(items[0].text.contains("PUK"), "{}", items[0].text);
    assert!(items[0].confidence >= 65, "{}", items[0].confidence);
}

#[tokio::test]
async fn erasing_a_person_removes_their_open_review_items() {
    let mut chat = Chat::lisa_only();
    chat.say("Hallo").await;
    chat.tap(ids::KIND_CUSTOMER).await;
    chat.say(LOST).await;
    assert_eq!(
        review::list(chat.stack.store.as_ref()).await.unwrap().len(),
        1
    );
    let ops = Ops {
        store: chat.stack.store.as_ref(),
        pseudonymizer: &chat.stack.bot.pseudonymizer,
    };
    ops.erase(&PersonRef::Phone(ERIKA.into())).await.unwrap();
    assert!(
        review::list(chat.stack.store.as_ref())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn labelling_with_the_cli_keeps_an_anonymous_example_that_purge_removes() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::open(dir.path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server.serve(listener));
    let client = reqwest::Client::new();
    for body in ["Hallo", LOST] {
        let response = client
            .post(format!("{base}/local/messages"))
            .json(&json!({"wa_id": ERIKA, "name": "Erika Mustermann",
                          "message": {"kind": "text", "body": body}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }

    let (ok, listed) = run(&["review", "--local", &base]).await;
    assert!(ok, "{listed}");
    assert!(
        listed.contains("unsure") && listed.contains("Wetter"),
        "{listed}"
    );
    assert_no_personal_data(&listed);
    let id = listed.split_whitespace().next().unwrap().to_owned();

    let (ok, out) = run(&[
        "review", "label", "--id", &id, "--topic", "bills", "--local", &base,
    ])
    .await;
    assert!(!ok, "an unknown topic is refused: {out}");
    let (ok, out) = run(&[
        "review", "label", "--id", &id, "--topic", "unknown", "--local", &base,
    ])
    .await;
    assert!(ok, "{out}");
    let (_, listed) = run(&["review", "--local", &base]).await;
    assert!(listed.contains("no messages to review"), "{listed}");

    // The example: the scrubbed text, the topic, the day; nothing that leads back.
    let examples = servicekanal_cli::topics::read_examples(&dir.path().join("lisa")).unwrap();
    let lines: Vec<&str> = examples.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 1, "{examples}");
    assert!(
        lines[0].starts_with("unknown\t") && lines[0].contains("Wetter"),
        "{examples}"
    );
    assert_no_personal_data(&examples);
    assert!(!examples.contains(&id), "no message id in the example");

    let (ok, out) = run(&["review", "purge", "--contains", "wetter", "--local", &base]).await;
    assert!(ok && out.contains("purged 1"), "{out}");
    let examples = servicekanal_cli::topics::read_examples(&dir.path().join("lisa")).unwrap();
    assert!(examples.trim().is_empty(), "{examples}");
}
