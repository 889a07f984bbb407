//! The anonymised statistics of a scripted day: customers, a prospect and an unknown writer on
//! WhatsApp, an agent, two callers; then time passes. What stats-export wrote is read back as
//! an analyst would read it, and scanned for every piece of personal data the script used.
//!
//! With `SERVICEKANAL_STATS_DIR` set, the Parquet files are copied there for the named-query
//! test (`tests/statistics/named_queries.py`, run by scripts/test).

use chrono::Duration;
use serde_json::Value;
use servicekanal_cli::stack::{Call, LOCAL_PSEUDONYM_KEY, LocalStack};
use servicekanal_shared::channels::whatsapp::payload::UserMessage;
use servicekanal_shared::domain::Contact;
use servicekanal_shared::domain::keys::{ItemKey, Pseudonymizer};
use servicekanal_shared::domain::messages::{AgentAct, AgentAction, ConversationRef};
use servicekanal_shared::domain::survey::ids as survey;
use servicekanal_shared::lisa::dialogue::ids;
use servicekanal_shared::ports::clock::{Clock, ManualClock};
use servicekanal_shared::ports::store::Store;
use servicekanal_shared::stats::Table;
use servicekanal_testing::{LogCapture, parquet_rows};
use std::collections::BTreeMap;
use std::sync::Arc;
use ulid::Ulid;

use crate::common;

/// Everything personal the script types, says or is: none of it may reach a statistics row.
const PERSONAL: &[&str] = &[
    "4917612345678",
    "+4917612345678",
    "Erika Mustermann",
    "Mustermann",
    "K1002003",
    "Sommer2026!",
    "Ich will meinen Vertrag kündigen",
    "Danke Erika, alles bestens",
    "4915112345678",
    "Max Beispiel",
    "Beispiel GmbH",
    "4917099887766",
    "Lena Schmidt",
    "Wo finde ich meine PUK",
    "+4930111222333",
    "030 111 222 333",
    "Hans Anrufer",
    "+4930444555666",
    "Greta Rückruf",
];

struct Day {
    stack: LocalStack,
    clock: ManualClock,
    pseudonymizer: Pseudonymizer,
    _dir: tempfile::TempDir,
}

impl Day {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(common::start());
        let stack = LocalStack::open(dir.path(), Arc::new(clock.clone())).unwrap();
        Self {
            stack,
            clock,
            pseudonymizer: Pseudonymizer::new(LOCAL_PSEUDONYM_KEY.as_bytes().to_vec()).unwrap(),
            _dir: dir,
        }
    }

    async fn send(&self, wa_id: &str, name: &str, message: UserMessage) {
        self.clock.advance(Duration::seconds(20));
        self.stack
            .user_sends(wa_id, Some(name), &message)
            .await
            .unwrap();
    }

    async fn say(&self, wa_id: &str, name: &str, text: &str) {
        self.send(wa_id, name, UserMessage::Text { body: text.into() })
            .await;
    }

    async fn tap(&self, wa_id: &str, name: &str, id: &str) {
        self.send(
            wa_id,
            name,
            UserMessage::Button {
                id: id.into(),
                title: id.into(),
            },
        )
        .await;
    }

    async fn pick(&self, wa_id: &str, name: &str, id: &str) {
        self.send(
            wa_id,
            name,
            UserMessage::ListRow {
                id: id.into(),
                title: id.into(),
            },
        )
        .await;
    }

    async fn conversation(&self, wa_id: &str) -> ConversationRef {
        let contact = self.pseudonymizer.contact(wa_id).unwrap();
        let profile: Contact = self
            .stack
            .store
            .get(&ItemKey::profile(&contact))
            .await
            .unwrap()
            .unwrap()
            .body()
            .unwrap();
        ConversationRef {
            contact,
            conversation: profile.current_conversation.unwrap(),
        }
    }

    async fn agent(&self, conversation: &ConversationRef, after: Duration, act: AgentAct) {
        self.clock.advance(after);
        self.stack
            .agent_acts(AgentAction {
                action_id: Ulid::from_datetime(self.clock.now().into()),
                conversation: conversation.clone(),
                agent: "agent-07".into(),
                act,
            })
            .await
            .unwrap();
    }

    /// Time passes: due timers fire, the retention sweeper removes what is past its
    /// deadline, DynamoDB's TTL (the local stand-in) finds nothing left, and the stream
    /// reaches stats-export.
    async fn later(&self, by: Duration) {
        self.clock.advance(by);
        self.stack.run().await;
        self.stack.sweep().await.unwrap();
        assert_eq!(
            self.stack.store.expire_by_ttl().unwrap(),
            0,
            "the sweeper was first"
        );
        self.stack.export_stats().await.unwrap();
    }

    /// Every exported row per table, as JSON objects, with the object keys.
    async fn exported(&self) -> (BTreeMap<Table, Vec<Value>>, Vec<String>) {
        let objects = &self.stack.stats.objects;
        let keys = objects.list("").await.unwrap();
        let mut rows = BTreeMap::new();
        for table in Table::ALL {
            let mut found = Vec::new();
            for key in keys.iter().filter(|k| k.starts_with(&format!("{table}/"))) {
                found.extend(parquet_rows(objects.get(key).await.unwrap().unwrap()));
            }
            rows.insert(table, found);
        }
        (rows, keys)
    }
}

/// The scripted day (see the module comment); returns the log of everything that ran.
async fn scripted_day(day: &Day) -> String {
    let logs = LogCapture::default();
    let _guard = logs.start();
    const ERIKA: &str = common::ERIKA;
    const ERIKA_NAME: &str = common::ERIKA_NAME;
    // Erika, a customer: authenticates, is handed over; the agent answers after two minutes,
    // notes a contract change and closes; she answers the survey with a comment.
    day.say(ERIKA, ERIKA_NAME, "Hallo").await;
    day.tap(ERIKA, ERIKA_NAME, ids::KIND_CUSTOMER).await;
    day.say(ERIKA, ERIKA_NAME, "Ich will meinen Vertrag kündigen")
        .await;
    day.say(ERIKA, ERIKA_NAME, "K1002003").await;
    day.say(ERIKA, ERIKA_NAME, "Sommer2026!").await;
    let erika = day.conversation(ERIKA).await;
    let reply = "Guten Tag Frau Mustermann, ich kündige Ihren Vertrag K1002003 zum 31.12.";
    day.agent(
        &erika,
        Duration::minutes(2),
        AgentAct::Reply { text: reply.into() },
    )
    .await;
    let note = "Kündigung K1002003 zum 31.12. erfasst";
    day.agent(
        &erika,
        Duration::minutes(1),
        AgentAct::Note { text: note.into() },
    )
    .await;
    day.agent(&erika, Duration::minutes(1), AgentAct::Close)
        .await;
    day.pick(ERIKA, ERIKA_NAME, &format!("{}4", survey::SCORE_PREFIX))
        .await;
    day.tap(ERIKA, ERIKA_NAME, survey::SOLVED_YES).await;
    day.say(ERIKA, ERIKA_NAME, "Danke Erika, alles bestens")
        .await;

    // Max, a prospect from a company: asks about tariffs, says goodbye, answers the survey
    // without a comment.
    const MAX: &str = "4915112345678";
    const MAX_NAME: &str = "Max Beispiel";
    day.say(MAX, MAX_NAME, "Hallo").await;
    day.tap(MAX, MAX_NAME, ids::KIND_PROSPECT).await;
    day.say(MAX, MAX_NAME, "Ich bin von der Beispiel GmbH")
        .await;
    day.say(MAX, MAX_NAME, "Was kostet bei euch ein Tarif mit 20 GB?")
        .await;
    day.say(MAX, MAX_NAME, "Danke, tschüss!").await;
    day.pick(MAX, MAX_NAME, &format!("{}5", survey::SCORE_PREFIX))
        .await;
    day.tap(MAX, MAX_NAME, survey::SOLVED_YES).await;
    day.tap(MAX, MAX_NAME, survey::SKIP).await;

    // Lena asks one question and falls silent: closed for inactivity; the survey she is
    // offered goes unanswered.
    const LENA: &str = "4917099887766";
    day.say(LENA, "Lena Schmidt", "Wo finde ich meine PUK?")
        .await;
    day.later(Duration::minutes(31)).await;

    // Two callers: sales calls Hans back three hours later; Greta's request is never done.
    let hans = day
        .stack
        .call(&Call {
            caller: "+4930111222333".into(),
            name: Some("Hans Anrufer".into()),
            topic: Some("Tarifberatung".into()),
            window: Some("morgen zwischen 10 und 12 Uhr".into()),
            callback_number: Some("030 111 222 333".into()),
        })
        .await
        .unwrap();
    assert_eq!(hans["status"], "ok", "{hans}");
    day.stack
        .call(&Call {
            caller: "+4930444555666".into(),
            name: Some("Greta Rückruf".into()),
            topic: Some("Geräte".into()),
            window: Some("Montag vormittag".into()),
            callback_number: None,
        })
        .await
        .unwrap();
    day.later(Duration::hours(3)).await;
    voice_intake::mark_done(
        day.stack.store.as_ref(),
        hans["reference"].as_str().unwrap(),
        day.clock.now(),
    )
    .await
    .unwrap();
    day.stack.export_stats().await.unwrap();

    // A week later every bot message is gone; months later the open callback request too.
    day.later(Duration::days(8)).await;
    day.later(Duration::days(95)).await;
    logs.text()
}

fn column<'a>(rows: &'a [Value], name: &str) -> Vec<&'a Value> {
    rows.iter().map(|r| &r[name]).collect()
}

#[tokio::test]
async fn a_scripted_day_becomes_anonymous_rows_for_every_table() {
    let day = Day::new();
    let logs = scripted_day(&day).await;
    let (rows, keys) = day.exported().await;

    // Conversations: Erika's (handed over, authenticated, closed by the agent), Max's
    // (goodbye), Lena's (inactivity).
    let conversations = &rows[&Table::Conversations];
    let mut reasons: Vec<&str> = column(conversations, "end_reason")
        .into_iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["agent-closed", "goodbye", "inactivity"]);
    let erika = conversations
        .iter()
        .find(|r| r["end_reason"] == "agent-closed")
        .unwrap();
    assert_eq!(erika["handed_over"], true);
    assert_eq!(erika["authenticated"], true);
    assert_eq!(erika["contact_kind"], "customer");
    assert_eq!(erika["agent_messages"], 1);
    let max = conversations
        .iter()
        .find(|r| r["end_reason"] == "goodbye")
        .unwrap();
    assert_eq!(max["contact_kind"], "prospect");
    assert_eq!(max["handed_over"], false);

    // Messages: one row each, the agent's reply with the time Erika waited since she asked
    // for a person (her password message) — two minutes and the 20 s of her own typing, and
    // the 2 s Lisa waited for a follow-up message before she handed over (the burst window).
    let events = &rows[&Table::MessageEvents];
    let agent_replies: Vec<&Value> = events
        .iter()
        .filter(|r| r["actor"] == "agent" && r["direction"] == "outbound")
        .collect();
    assert_eq!(agent_replies.len(), 1);
    assert_eq!(agent_replies[0]["response_seconds"], 122);
    assert_eq!(agent_replies[0]["conversation_mode"], "agent");
    let notes = events
        .iter()
        .filter(|r| r["direction"] == "internal")
        .count();
    assert_eq!(notes, 1);
    let customer_messages: i64 = column(conversations, "customer_messages")
        .into_iter()
        .map(|v| v.as_i64().unwrap())
        .sum();
    let survey_messages = 3 + 3; // Erika's and Max's survey answers are messages too.
    assert_eq!(
        events.iter().filter(|r| r["actor"] == "customer").count() as i64,
        customer_messages + survey_messages
    );
    assert!(
        events
            .iter()
            .filter(|r| r["actor"] == "bot" && r["response_seconds"].is_number())
            .all(|r| r["response_seconds"].as_i64().unwrap() < 5),
        "Lisa answers at once"
    );

    // Survey: Erika 4 with a comment (only that there was one), Max 5 without; Lena none.
    let mut survey: Vec<(i64, bool, bool)> = rows[&Table::SurveyResponses]
        .iter()
        .map(|r| {
            (
                r["score"].as_i64().unwrap(),
                r["solved"].as_bool().unwrap(),
                r["has_comment"].as_bool().unwrap(),
            )
        })
        .collect();
    survey.sort();
    assert_eq!(survey, [(4, true, true), (5, true, false)]);

    // Callbacks: Hans completed after three hours, Greta's expired after three months.
    let mut callbacks: Vec<(String, String, f64)> = rows[&Table::Callbacks]
        .iter()
        .map(|r| {
            (
                r["topic"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
                r["hours_to_outcome"].as_f64().unwrap(),
            )
        })
        .collect();
    callbacks.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(callbacks[0].0, "devices");
    assert_eq!(callbacks[0].1, "expired");
    assert!(callbacks[0].2 > 24.0 * 80.0, "{callbacks:?}");
    assert_eq!(
        callbacks[1],
        ("tariff-advice".into(), "completed".into(), 3.0)
    );

    // Deletions: bot messages by the sweeper after a week, the callback done (purpose
    // fulfilled), the open one by the sweeper; counted per class.
    let mut deleted: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in &rows[&Table::Deletions] {
        *deleted
            .entry((
                r["retention_class"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap().to_owned(),
            ))
            .or_default() += r["items"].as_i64().unwrap();
    }
    assert!(
        deleted[&("bot-7d".into(), "sweeper".into())] > 10,
        "{deleted:?}"
    );
    assert_eq!(
        deleted[&("callback-3m".into(), "purpose_fulfilled".into())],
        2,
        "request and its sales-list entry: {deleted:?}"
    );
    assert!(deleted.contains_key(&("callback-3m".into(), "sweeper".into())));

    // Hive partitions per table; every time cut to the minute.
    for key in &keys {
        let table = key.split('/').next().unwrap();
        assert!(Table::ALL.iter().any(|t| t.name() == table), "{key}");
        assert!(key.split('/').nth(1).unwrap().starts_with("dt=20"), "{key}");
        assert!(key.ends_with(".parquet"), "{key}");
    }
    for r in events {
        assert!(
            r["event_time"]
                .as_str()
                .unwrap()
                .ends_with(":00.000 +00:00"),
            "{}",
            r["event_time"]
        );
    }

    // Nothing personal in any object, neither in the rows nor in the raw bytes, nor in the logs.
    let everything: String = rows
        .values()
        .flatten()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let mut raw = Vec::new();
    for key in &keys {
        raw.extend(day.stack.stats.objects.get(key).await.unwrap().unwrap());
    }
    let raw = String::from_utf8_lossy(&raw);
    for personal in PERSONAL {
        assert!(!everything.contains(personal), "{personal} in a row");
        assert!(!raw.contains(personal), "{personal} in an object");
        assert!(!logs.contains(personal), "{personal} in the logs");
    }
    assert!(!everything.contains("C#") && !everything.contains("wamid"));

    if let Ok(out) = std::env::var("SERVICEKANAL_STATS_DIR") {
        let out = std::path::Path::new(&out);
        let _ = std::fs::remove_dir_all(out);
        for key in &keys {
            let path = out.join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(
                path,
                day.stack.stats.objects.get(key).await.unwrap().unwrap(),
            )
            .unwrap();
        }
    }
}

#[tokio::test]
async fn exporting_again_adds_nothing_and_a_restart_continues_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(common::start());
    let stack = LocalStack::open(dir.path(), Arc::new(clock.clone())).unwrap();
    stack
        .user_sends(
            common::ERIKA,
            Some(common::ERIKA_NAME),
            &UserMessage::Text {
                body: "Hallo".into(),
            },
        )
        .await
        .unwrap();
    let keys = stack.stats.objects.list("").await.unwrap();
    assert!(!keys.is_empty());
    assert!(stack.export_stats().await.unwrap().is_empty());
    drop(stack);

    let stack = LocalStack::open(dir.path(), Arc::new(clock.clone())).unwrap();
    assert!(
        stack.export_stats().await.unwrap().is_empty(),
        "nothing exported twice"
    );
    assert_eq!(stack.stats.objects.list("").await.unwrap(), keys);
}
