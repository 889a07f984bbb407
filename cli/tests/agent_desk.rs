//! The agent desk end to end, on both adapters: the queue desk (the local stack's) and Amazon
//! Connect chat (the real SDK against a local stand-in of Connect's APIs, the agent's side
//! played with Connect's streaming events through bot-reply's handler). Each case asserts what
//! the customer sees on WhatsApp and what the agent sees at the desk.

use crate::common::{Chat, ERIKA, ERIKA_NAME};
use serde_json::{Value, json};
use servicekanal_shared::domain::keys::ItemKey;
use servicekanal_shared::domain::messages::{AgentAct, AgentAction, ConversationRef, DeskEvent};
use servicekanal_shared::domain::{
    Conversation, ConversationState, EndReason, Message, MessageContent, wire_name,
};
use servicekanal_shared::lisa::dialogue::ids;
use servicekanal_shared::ports::clock::Clock;
use servicekanal_shared::ports::desk::connect::DeskTexts;
use servicekanal_shared::ports::desk::{AgentDesk, DeskChat};
use servicekanal_shared::ports::store::Store;
use servicekanal_testing::connect::{
    CHAT_CONTACT_ID, ConnectStandIn, FLOW_ID, SYSTEM_PARTICIPANT_TOKEN, TOPIC_ARN, connect_error,
};
use std::sync::Arc;
use ulid::Ulid;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Queue,
    Connect,
}

const BOTH: [Kind; 2] = [Kind::Queue, Kind::Connect];

/// What the agent sees at the desk, the same for both adapters.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Handover {
        topic: String,
        history: String,
    },
    Customer(String),
    /// Something could not be delivered (the reason's wire name).
    Refused(String),
    Ended,
}

struct Scene {
    chat: Chat,
    connect: Option<ConnectStandIn>,
    conversation: Option<ConversationRef>,
}

fn sample(name: &str) -> Value {
    let path = format!("{}/../events/bot-reply/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

impl Scene {
    async fn new(kind: Kind) -> Self {
        let mut chat = Chat::lisa_only();
        let connect = match kind {
            Kind::Queue => None,
            Kind::Connect => {
                let stand_in = ConnectStandIn::start().await;
                let desk: Arc<dyn AgentDesk> = Arc::new(stand_in.desk(chat.stack.clock.clone()));
                chat.stack.bot.desk = desk;
                Some(stand_in)
            }
        };
        Self {
            chat,
            connect,
            conversation: None,
        }
    }

    /// Erika, a customer, asks for an agent and authenticates; returns Lisa's last answer.
    async fn ask_for_an_agent(&mut self) -> Vec<String> {
        self.chat.say("Hallo").await;
        self.chat.tap(ids::KIND_CUSTOMER).await;
        self.chat
            .say("Ich möchte mit einem Mitarbeiter sprechen")
            .await;
        self.chat.say("K1002003").await;
        self.chat.say("Sommer2026!").await
    }

    /// Erika asks for an agent; Lisa hands her over.
    async fn hand_over(&mut self) {
        let handed = self.ask_for_an_agent().await;
        assert_eq!(handed, [self.chat.lisa.handover.as_str()]);
        let (_, profile) = self.chat.profile().await.unwrap();
        self.conversation = Some(ConversationRef {
            contact: self.chat.contact(),
            conversation: profile.current_conversation.unwrap(),
        });
    }

    async fn agent_sees(&self) -> Vec<Seen> {
        let Some(connect) = &self.connect else {
            return self
                .chat
                .stack
                .desk_log()
                .await
                .unwrap()
                .into_iter()
                .map(|event| match event {
                    DeskEvent::Handover(h) => Seen::Handover {
                        topic: h.topic,
                        history: h
                            .summary
                            .iter()
                            .map(|l| l.text.as_str())
                            .collect::<Vec<_>>()
                            .join("\n"),
                    },
                    DeskEvent::CustomerMessage { text, .. } => Seen::Customer(text),
                    DeskEvent::ActionRejected { reason, .. } => Seen::Refused(wire_name(reason)),
                    DeskEvent::Closed { .. } => Seen::Ended,
                })
                .collect();
        };
        let texts = DeskTexts::embedded();
        let mut seen = Vec::new();
        for call in connect.effective_calls().await {
            let from_system = ConnectStandIn::by_system(&call);
            match call.path.as_str() {
                "/contact/chat" => seen.push(Seen::Handover {
                    topic: call.body["Attributes"]["topic"].as_str().unwrap().into(),
                    history: String::new(),
                }),
                "/participant/message" => {
                    let text = call.body["Content"].as_str().unwrap().to_owned();
                    match seen.last_mut() {
                        // The system participant's first message: what Lisa did.
                        Some(Seen::Handover { history, .. })
                            if from_system && history.is_empty() =>
                        {
                            *history = text
                                .lines()
                                .skip(1)
                                .map(|l| l.split_once(": ").map_or(l, |(_, t)| t))
                                .collect::<Vec<_>>()
                                .join("\n");
                        }
                        _ if from_system => {
                            let reason = texts
                                .rejected
                                .iter()
                                .find(|(_, t)| **t == text)
                                .map(|(r, _)| r.clone())
                                .unwrap_or(text);
                            seen.push(Seen::Refused(reason));
                        }
                        _ => seen.push(Seen::Customer(text)),
                    }
                }
                "/participant/disconnect" => seen.push(Seen::Ended),
                _ => {}
            }
        }
        seen
    }

    /// The agent sends `text` (delivered `times` times, as SNS or a retrying desk may).
    async fn agent_writes(&mut self, text: &str, times: usize) -> Vec<String> {
        self.chat.clock.advance(chrono::Duration::seconds(30));
        let now = self.chat.clock.now();
        let id = Ulid::from_datetime(now.into());
        for _ in 0..times {
            match &self.connect {
                None => self.act(id, AgentAct::Reply { text: text.into() }).await,
                Some(_) => {
                    self.stream(
                        "chat-agent-message.json",
                        json!({ "Content": text, "Id": id.to_string() }),
                    )
                    .await
                }
            }
        }
        self.chat.news()
    }

    async fn agent_notes(&mut self, text: &str) -> Vec<String> {
        self.chat.clock.advance(chrono::Duration::seconds(30));
        let id = Ulid::from_datetime(self.chat.clock.now().into());
        match &self.connect {
            None => self.act(id, AgentAct::Note { text: text.into() }).await,
            Some(_) => {
                let content = format!("/notiz {text}");
                self.stream(
                    "chat-agent-note.json",
                    json!({ "Content": content, "Id": id.to_string() }),
                )
                .await
            }
        }
        self.chat.news()
    }

    async fn agent_types(&mut self) {
        match &self.connect {
            None => self.act(Ulid::new(), AgentAct::Typing).await,
            Some(_) => self.stream("chat-agent-typing.json", json!({})).await,
        }
    }

    async fn agent_leaves(&mut self) -> Vec<String> {
        self.chat.clock.advance(chrono::Duration::seconds(30));
        match &self.connect {
            None => self.act(Ulid::new(), AgentAct::Close).await,
            Some(_) => {
                self.stream("chat-agent-left.json", json!({})).await;
                // An agent leaving alone may be a transfer: the conversation stays open ...
                assert_ne!(self.conversation().await.state, ConversationState::Closed);
                // ... until Connect ends the chat.
                self.stream("chat-ended.json", json!({})).await;
            }
        }
        self.chat.news()
    }

    async fn act(&self, action_id: Ulid, act: AgentAct) {
        self.chat
            .stack
            .agent_acts(AgentAction {
                action_id,
                conversation: self.conversation.clone().unwrap(),
                agent: "agent-07".into(),
                act,
            })
            .await
            .unwrap();
    }

    /// Connect streams a chat item: the sample with `changes` to its payload, through
    /// bot-reply's handler (then the stack's queues run, as in AWS).
    async fn stream(&self, sample_name: &str, changes: Value) {
        let mut event = sample(sample_name);
        let message = event["Records"][0]["Sns"]["Message"].as_str().unwrap();
        let mut payload: Value = serde_json::from_str(message).unwrap();
        payload["AbsoluteTime"] = json!(self.chat.clock.now().to_rfc3339());
        for (k, v) in changes.as_object().unwrap() {
            payload[k] = v.clone();
        }
        event["Records"][0]["Sns"]["Message"] = json!(payload.to_string());
        bot_reply::handle_event(event, &self.chat.stack.bot)
            .await
            .unwrap();
        self.chat.stack.run().await;
    }

    async fn conversation(&self) -> Conversation {
        let key = self.conversation.as_ref().unwrap().key();
        self.chat
            .stack
            .store
            .get(&key)
            .await
            .unwrap()
            .unwrap()
            .body()
            .unwrap()
    }
}

#[tokio::test]
async fn a_handover_reaches_the_agent_with_what_lisa_did_and_the_reply_reaches_whatsapp_once() {
    for kind in BOTH {
        let mut scene = Scene::new(kind).await;
        scene.hand_over().await;
        let seen = scene.agent_sees().await;
        let [Seen::Handover { topic, history }] = seen.as_slice() else {
            panic!("{kind:?}: {seen:?}");
        };
        assert_eq!(topic, "agent", "{kind:?}");
        assert!(
            history.contains("Ich möchte mit einem Mitarbeiter sprechen"),
            "{kind:?}: {history}"
        );
        assert!(
            history.contains(&scene.chat.lisa.handover),
            "{kind:?}: {history}"
        );
        // The password is never shown to the agent.
        assert!(!history.contains("Sommer2026!"), "{kind:?}: {history}");

        let reply = "Hallo Frau Mustermann, ich sehe mir Ihre Rechnung an.";
        assert_eq!(scene.agent_writes(reply, 2).await, [reply], "{kind:?}");
        assert_eq!(scene.conversation().await.agent_messages, 1, "{kind:?}");

        let customer = scene.chat.say("Danke, die vom November bitte").await;
        assert!(
            customer.is_empty(),
            "{kind:?}: Lisa stays quiet: {customer:?}"
        );
        assert_eq!(
            scene.agent_sees().await.last(),
            Some(&Seen::Customer("Danke, die vom November bitte".into())),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn what_the_agent_sees_holds_no_phone_number_or_name() {
    let mut scene = Scene::new(Kind::Connect).await;
    scene.hand_over().await;
    scene.chat.say("Meine Nummer ist übrigens die alte").await;
    let calls = scene.connect.as_ref().unwrap().calls().await;
    let start = &calls
        .iter()
        .find(|c| c.path == "/contact/chat")
        .unwrap()
        .body;
    assert_eq!(start["ContactFlowId"], FLOW_ID);
    assert_eq!(start["Attributes"]["customerRef"], "K1002003");
    assert_eq!(start["Attributes"]["contactKind"], "customer");
    let reference = format!(
        "{}/{}",
        scene.chat.contact().as_str(),
        scene.conversation.as_ref().unwrap().conversation
    );
    assert_eq!(start["Attributes"]["conversation"], json!(reference));
    let display = start["ParticipantDetails"]["DisplayName"].as_str().unwrap();
    assert!(display.starts_with("WhatsApp-Kunde "), "{display}");
    assert!(!display.contains("Erika"), "{display}");
    let everything =
        serde_json::to_string(&calls.iter().map(|c| &c.body).collect::<Vec<_>>()).unwrap();
    assert!(
        !everything.contains(&ERIKA[2..]),
        "phone number sent to Connect"
    );
    assert!(
        !start["Attributes"].to_string().contains(ERIKA_NAME),
        "profile name in the attributes"
    );
    let streaming = &calls
        .iter()
        .find(|c| c.path == "/contact/start-streaming")
        .unwrap()
        .body;
    assert_eq!(
        streaming["ChatStreamingConfiguration"]["StreamingEndpointArn"],
        TOPIC_ARN
    );
    assert_eq!(streaming["ContactId"], CHAT_CONTACT_ID);
}

#[tokio::test]
async fn a_note_is_stored_not_sent_and_typing_shows_on_whatsapp() {
    for kind in BOTH {
        let mut scene = Scene::new(kind).await;
        scene.hand_over().await;
        assert!(
            scene
                .agent_notes("Tarifwechsel zum 1.1. gebucht")
                .await
                .is_empty(),
            "{kind:?}"
        );
        let note = scene
            .chat
            .messages()
            .await
            .into_iter()
            .map(|(_, m)| m)
            .find(|m: &Message| matches!(&m.content, MessageContent::Text { body } if body == "Tarifwechsel zum 1.1. gebucht"));
        assert!(note.is_some(), "{kind:?}: the note is stored");

        let marks_before = scene.chat.stack.outbox.read_marks().len();
        scene.agent_types().await;
        let marks = scene.chat.stack.outbox.read_marks();
        assert_eq!(marks.len(), marks_before + 1, "{kind:?}");
        assert!(
            marks.last().unwrap().1,
            "{kind:?}: with the typing indicator"
        );
    }
}

#[tokio::test]
async fn the_agent_leaving_closes_the_conversation_once_for_the_survey() {
    for kind in BOTH {
        let mut scene = Scene::new(kind).await;
        scene.hand_over().await;
        scene.agent_writes("Erledigt, schönen Tag noch!", 1).await;
        scene.agent_leaves().await;
        // The survey (not running in this stack) hears of the end once.
        let closed = scene.chat.stack.closed_events().await.unwrap();
        assert_eq!(closed.len(), 1, "{kind:?}: {closed:?}");
        assert_eq!(closed[0].reason, EndReason::AgentClosed, "{kind:?}");
        let conversation = scene.conversation().await;
        assert_eq!(conversation.state, ConversationState::Closed, "{kind:?}");
        assert_eq!(
            conversation.end_reason,
            Some(EndReason::AgentClosed),
            "{kind:?}"
        );
        if let Some(connect) = &scene.connect {
            // The chat's tokens are gone; its contact id stays for the redaction later.
            let chat: DeskChat = scene
                .chat
                .stack
                .store
                .get(&ItemKey::desk_chat(CHAT_CONTACT_ID))
                .await
                .unwrap()
                .unwrap()
                .body()
                .unwrap();
            assert_eq!(chat.tokens, None);
            assert_eq!(connect.calls_to("/participant/disconnect").await.len(), 1);
        }
    }
}

#[tokio::test]
async fn outside_the_24_hour_window_the_agent_is_told_and_nothing_is_sent() {
    for kind in BOTH {
        let mut scene = Scene::new(kind).await;
        scene.hand_over().await;
        scene.chat.clock.advance(chrono::Duration::hours(25));
        assert!(
            scene.agent_writes("Sind Sie noch da?", 1).await.is_empty(),
            "{kind:?}"
        );
        assert_eq!(
            scene.agent_sees().await.last(),
            Some(&Seen::Refused("outside-service-window".into())),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn a_chat_connect_cannot_start_leaves_the_customer_told_and_the_handover_queued() {
    let mut scene = Scene::new(Kind::Connect).await;
    scene
        .connect
        .as_ref()
        .unwrap()
        .mount_first(
            ("PUT", "/contact/chat"),
            connect_error(503, "ServiceUnavailableException", "try later"),
            10,
        )
        .await;
    let told = scene.ask_for_an_agent().await;
    assert_eq!(
        told,
        [
            scene.chat.lisa.handover.as_str(),
            scene.chat.lisa.desk_unavailable.as_str()
        ]
    );
    // The SDK retried (3 attempts); the handover waits in the queue an alarm watches.
    assert_eq!(
        scene
            .connect
            .as_ref()
            .unwrap()
            .calls_to("/contact/chat")
            .await
            .len(),
        3
    );
    let waiting = scene.chat.stack.desk_events().await.unwrap();
    assert!(
        matches!(waiting.as_slice(), [DeskEvent::Handover(_)]),
        "{waiting:?}"
    );
    // Her next message waits there too, rather than being lost.
    scene.chat.say("Hallo?").await;
    let waiting = scene.chat.stack.desk_events().await.unwrap();
    assert!(
        matches!(waiting.as_slice(), [DeskEvent::CustomerMessage { text, .. }] if text == "Hallo?"),
        "{waiting:?}"
    );
}

#[tokio::test]
async fn a_chat_that_starts_but_cannot_be_followed_is_stopped_and_the_handover_queued() {
    let mut scene = Scene::new(Kind::Connect).await;
    scene
        .connect
        .as_ref()
        .unwrap()
        .mount_first(
            ("POST", "/contact/start-streaming"),
            connect_error(400, "InvalidRequestException", "topic not allowed"),
            1,
        )
        .await;
    let told = scene.ask_for_an_agent().await;
    assert_eq!(
        told.last().map(String::as_str),
        Some(scene.chat.lisa.desk_unavailable.as_str())
    );
    let connect = scene.connect.as_ref().unwrap();
    let stopped = connect.calls_to("/contact/stop").await;
    assert_eq!(stopped.len(), 1, "the half-started chat is ended");
    assert_eq!(stopped[0].body["ContactId"], CHAT_CONTACT_ID);
    let waiting = scene.chat.stack.desk_events().await.unwrap();
    assert!(
        matches!(waiting.as_slice(), [DeskEvent::Handover(_)]),
        "{waiting:?}"
    );
}

#[tokio::test]
async fn a_long_customer_message_reaches_the_agent_whole_in_pieces_connect_takes() {
    let mut scene = Scene::new(Kind::Connect).await;
    scene.hand_over().await;
    let long = "Mein Anschluss ist seit Montag gestört, ".repeat(60);
    scene.chat.say(&long).await;
    let pieces: Vec<String> = scene
        .connect
        .as_ref()
        .unwrap()
        .effective_calls()
        .await
        .into_iter()
        .filter(|c| c.path == "/participant/message" && !ConnectStandIn::by_system(c))
        .map(|c| c.body["Content"].as_str().unwrap().to_owned())
        .collect();
    assert!(pieces.len() > 1, "{} pieces", pieces.len());
    assert!(pieces.iter().all(|p| p.chars().count() <= 1024));
    assert_eq!(pieces.concat().trim_end(), long.trim_end());
}

#[tokio::test]
async fn an_agents_attachment_is_not_relayed_and_the_agent_is_told() {
    let mut scene = Scene::new(Kind::Connect).await;
    scene.hand_over().await;
    scene.stream("chat-agent-attachment.json", json!({})).await;
    assert!(scene.chat.news().is_empty());
    assert_eq!(
        scene.agent_sees().await.last(),
        Some(&Seen::Refused("attachment-not-relayed".into()))
    );
}

#[tokio::test]
async fn an_expired_connection_is_made_anew_and_the_message_still_reaches_the_agent() {
    let mut scene = Scene::new(Kind::Connect).await;
    scene.hand_over().await;
    let connect = scene.connect.as_ref().unwrap();
    connect
        .mount_first(
            ("POST", "/participant/message"),
            connect_error(403, "AccessDeniedException", "Connection expired"),
            1,
        )
        .await;
    let connections = connect.calls_to("/participant/connection").await.len();
    scene.chat.say("Noch eine Frage").await;
    assert_eq!(
        connect.calls_to("/participant/connection").await.len(),
        connections + 1
    );
    assert_eq!(
        scene.agent_sees().await.last(),
        Some(&Seen::Customer("Noch eine Frage".into()))
    );
}

#[tokio::test]
async fn erasing_a_handed_over_customer_redacts_the_chat_in_connect() {
    let mut scene = Scene::new(Kind::Connect).await;
    scene.hand_over().await;
    scene.agent_leaves().await;
    scene.chat.stack.export_stats().await.unwrap();
    assert!(scene.chat.stack.connect_redactions.redacted().is_empty());
    let person = scene.chat.stack.person(ERIKA).await.unwrap();
    servicekanal_shared::policy::privacy::erase(scene.chat.stack.store.as_ref(), &person)
        .await
        .unwrap();
    scene.chat.stack.export_stats().await.unwrap();
    assert_eq!(
        scene.chat.stack.connect_redactions.redacted(),
        [CHAT_CONTACT_ID]
    );
}

#[tokio::test]
async fn joining_agents_and_our_own_echoes_change_nothing_and_no_token_reaches_the_logs() {
    let capture = servicekanal_testing::LogCapture::default();
    let _guard = capture.start();
    let mut scene = Scene::new(Kind::Connect).await;
    scene.hand_over().await;
    let stored = scene.chat.messages().await.len();
    scene.stream("chat-agent-joined.json", json!({})).await;
    scene
        .stream("chat-customer-message.json", json!({ "Content": "Hallo?" }))
        .await;
    // Not a streaming item at all: logged and dropped, never retried.
    let mut junk = sample("chat-agent-joined.json");
    junk["Records"][0]["Sns"]["Message"] = json!("not json");
    bot_reply::handle_event(junk, &scene.chat.stack.bot)
        .await
        .unwrap();
    assert!(scene.chat.news().is_empty());
    assert_eq!(scene.chat.messages().await.len(), stored);
    assert_eq!(
        scene.conversation().await.state,
        ConversationState::WaitingForAgent
    );

    scene.agent_writes("Guten Tag!", 1).await;
    scene.agent_leaves().await;
    let logs = capture.text();
    assert!(
        logs.contains("chat item done"),
        "the handler logged: {logs}"
    );
    for secret in [
        servicekanal_testing::connect::CUSTOMER_PARTICIPANT_TOKEN,
        SYSTEM_PARTICIPANT_TOKEN,
        ERIKA,
        ERIKA_NAME,
        "Sommer2026!",
        "Guten Tag!",
    ] {
        assert!(!logs.contains(secret), "{secret:?} leaked into the logs");
    }
}

#[tokio::test]
async fn an_access_request_during_a_chat_shows_the_chat_but_not_its_credentials() {
    let mut scene = Scene::new(Kind::Connect).await;
    scene.hand_over().await;
    let person = scene.chat.stack.person(ERIKA).await.unwrap();
    let export = servicekanal_shared::policy::privacy::export(
        scene.chat.stack.store.as_ref(),
        &person,
        "phone number",
        scene.chat.clock.now(),
    )
    .await
    .unwrap();
    let text = serde_json::to_string(&export).unwrap();
    assert!(text.contains(CHAT_CONTACT_ID), "the chat is listed");
    assert!(
        !text.contains(servicekanal_testing::connect::CUSTOMER_PARTICIPANT_TOKEN)
            && !text.contains(SYSTEM_PARTICIPANT_TOKEN),
        "no chat credentials in the export"
    );
}
