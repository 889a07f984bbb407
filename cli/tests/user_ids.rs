//! A customer WhatsApp knows by user id only (a username, her number withheld) on the whole
//! local stack: she chats with Lisa, authenticates, is handed over to an agent, answers the
//! survey and is counted in the statistics, replies reach her by user id, and an erasure or
//! export by `--user-id` reaches every item of hers, delivery markers of what was sent to her
//! included. Nothing of her identity reaches the logs or the statistics.

use servicekanal_cli::privacy::Ops;
use servicekanal_shared::domain::Recipient;
use servicekanal_shared::domain::messages::{AgentAct, AgentAction, DeskEvent, Handover};
use servicekanal_shared::domain::survey::ids as survey_ids;
use servicekanal_shared::lisa::dialogue::{Texts, ids};
use servicekanal_shared::policy::privacy::PersonRef;
use servicekanal_testing::LogCapture;
use ulid::Ulid;

use crate::common;

use common::{LENA_NAME, LENA_USER_ID, LENA_USERNAME, Phone};

/// Everything readable in the store that is Lena's: her partition, what she owns, and
/// every delivery marker (she is the only one writing here).
fn lenas(phone: &Phone) -> Vec<String> {
    let me = phone.contact();
    phone
        .stack
        .store
        .readable_items()
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.key.pk == me.partition()
                || r.owner.as_deref() == Some(me.as_str())
                || r.key.pk.starts_with("WAMID#")
        })
        .map(|r| r.kind.to_string())
        .collect()
}

#[tokio::test]
async fn a_customer_without_a_phone_number_can_do_everything_and_be_erased_by_user_id() {
    let capture = LogCapture::default();
    let _guard = capture.start();
    let mut lena = Phone::lena();
    let texts = Texts::embedded();

    let greeting = lena.say("Hallo").await;
    assert!(greeting[0].contains(LENA_NAME), "{greeting:?}");
    lena.tap(ids::KIND_CUSTOMER).await;
    lena.say("Ich will meinen Vertrag kündigen").await;
    assert_eq!(lena.say("K1002003").await, [texts.ask_password.as_str()]);
    assert_eq!(lena.say("Sommer2026!").await, [texts.handover.as_str()]);

    // Every reply went to her user id (WhatsApp's `recipient`), none to a number.
    let sent = lena.stack.outbox.sent();
    assert!(!sent.is_empty());
    assert!(
        sent.iter()
            .all(|e| e.to == Recipient::UserId(LENA_USER_ID.into())),
        "{sent:?}"
    );

    // The agent desk gets her, authenticated; the agent answers and closes.
    let events = lena.stack.desk_events().await.unwrap();
    let [
        DeskEvent::Handover(Handover {
            conversation,
            customer_ref,
            ..
        }),
    ] = events.as_slice()
    else {
        panic!("expected one handover, got {events:?}");
    };
    assert_eq!(customer_ref.as_deref(), Some("K1002003"));
    let reply = "Hallo Frau Krause, ich kümmere mich darum.";
    for act in [AgentAct::Reply { text: reply.into() }, AgentAct::Close] {
        lena.clock.advance(chrono::Duration::seconds(30));
        lena.stack
            .agent_acts(AgentAction {
                action_id: Ulid::new(),
                conversation: conversation.clone(),
                agent: "agent-07".into(),
                act,
            })
            .await
            .unwrap();
    }
    let news = lena.news();
    assert_eq!(news[0], reply, "{news:?}");
    assert!(news.len() > 1, "the survey is offered: {news:?}");

    // She answers the survey.
    lena.pick(&format!("{}5", survey_ids::SCORE_PREFIX)).await;
    lena.tap(survey_ids::SOLVED_YES).await;
    lena.say("Super schnell, danke").await;

    // Counted in the statistics like anyone, with WhatsApp's pricing; nothing of her in them.
    let stats = lena.stack.statistics().await.unwrap();
    let rows = |table: &str| stats[table]["rows"].as_array().unwrap().clone();
    let outbound: Vec<_> = rows("message_events")
        .into_iter()
        .filter(|r| r["direction"] == "outbound")
        .collect();
    assert!(!outbound.is_empty());
    assert!(outbound.iter().all(|r| r["pricing_category"] == "service"));
    assert_eq!(rows("survey_responses").len(), 1);
    assert_eq!(rows("conversations").len(), 1);
    let exported = stats.to_string();
    for personal in [LENA_USER_ID, LENA_USERNAME, LENA_NAME, "Krause", "K1002003"] {
        assert!(!exported.contains(personal), "{personal} in the statistics");
    }

    // Right of access by user id: everything, identity links and markers included.
    let ops = Ops {
        store: lena.stack.store.as_ref(),
        pseudonymizer: &lena.stack.bot.pseudonymizer,
    };
    let who = PersonRef::UserId(LENA_USER_ID.into());
    let report = ops.export(&who, lena.stack.now()).await.unwrap();
    for kind in [
        "contact",
        "conversation",
        "message",
        "survey-answer",
        "identity-link",
        "delivery-marker",
    ] {
        assert!(
            report.data.contains_key(kind),
            "{kind} missing in the export"
        );
    }
    assert_eq!(report.items, lenas(&lena).len());

    // Right to be forgotten by user id: nothing of hers is left, not even the markers of
    // what was sent to her.
    let erased = ops.erase(&who).await.unwrap();
    assert_eq!(erased.total() as usize, report.items);
    assert!(lenas(&lena).is_empty(), "{:?}", lenas(&lena));
    assert_eq!(ops.export(&who, lena.stack.now()).await.unwrap().items, 0);

    let logs = capture.text();
    for personal in [
        LENA_USER_ID,
        LENA_USERNAME,
        LENA_NAME,
        "Krause",
        "Sommer2026!",
    ] {
        assert!(!logs.contains(personal), "{personal} in the logs");
    }
}
