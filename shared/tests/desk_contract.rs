//! The `AgentDesk` contract, run against every adapter: the queue desk on the in-process queue
//! and on SQS (moto), and Amazon Connect chat through the real SDK against a stand-in of
//! Connect's APIs. What the agents see is read back the way each desk shows it.

use chrono::{DateTime, Utc};
use servicekanal_shared::domain::keys::Pseudonym;
use servicekanal_shared::domain::messages::{
    ConversationRef, DeskEvent, Handover, RejectReason, SummaryLine,
};
use servicekanal_shared::domain::{Actor, ContactKind, EndReason};
use servicekanal_shared::ports::clock::ManualClock;
use servicekanal_shared::ports::desk::{AgentDesk, DeskChat, QueueDesk};
use servicekanal_shared::ports::queue::Queue;
use servicekanal_shared::ports::queue::memory::InProcessQueue;
use servicekanal_shared::ports::queue::sqs::SqsQueue;
use servicekanal_testing::connect::ConnectStandIn;
use servicekanal_testing::{moto_config, moto_queue};
use std::sync::Arc;
use ulid::Ulid;

/// What the agents see, whatever the desk.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Handover(String),
    Customer(String),
    Refused,
    Ended,
}

enum Harness {
    Queue(Arc<dyn Queue>),
    Connect(ConnectStandIn),
}

impl Harness {
    async fn all(clock: &ManualClock) -> Vec<(&'static str, Arc<dyn AgentDesk>, Harness)> {
        let memory: Arc<dyn Queue> = Arc::new(InProcessQueue::new(
            "servicekanal-handover.fifo",
            Arc::new(clock.clone()),
        ));
        let config = moto_config().await;
        let (sqs, url) = moto_queue(&config, "handover", true).await;
        let sqs: Arc<dyn Queue> = Arc::new(SqsQueue::new(sqs, url));
        let stand_in = ConnectStandIn::start().await;
        let connect_desk = stand_in.desk(Arc::new(clock.clone()));
        vec![
            (
                "queue desk, in-process queue",
                Arc::new(QueueDesk::new(memory.clone())),
                Harness::Queue(memory),
            ),
            (
                "queue desk, SQS",
                Arc::new(QueueDesk::new(sqs.clone())),
                Harness::Queue(sqs),
            ),
            (
                "Connect chat",
                Arc::new(connect_desk),
                Harness::Connect(stand_in),
            ),
        ]
    }

    async fn seen(&self) -> Vec<Seen> {
        match self {
            Harness::Queue(queue) => {
                let mut seen = Vec::new();
                loop {
                    let batch = queue.receive(10).await.unwrap();
                    if batch.is_empty() {
                        return seen;
                    }
                    for message in batch {
                        let event: DeskEvent =
                            serde_json::from_str(message.body.as_deref().unwrap()).unwrap();
                        seen.push(match event {
                            DeskEvent::Handover(h) => Seen::Handover(h.topic),
                            DeskEvent::CustomerMessage { text, .. } => Seen::Customer(text),
                            DeskEvent::ActionRejected { .. } => Seen::Refused,
                            DeskEvent::Closed { .. } => Seen::Ended,
                        });
                        queue
                            .acknowledge(message.receipt_handle.as_deref().unwrap())
                            .await
                            .unwrap();
                    }
                }
            }
            Harness::Connect(stand_in) => {
                let mut seen = Vec::new();
                let mut summary_seen = false;
                for call in stand_in.effective_calls().await {
                    let from_system = ConnectStandIn::by_system(&call);
                    let text = call.body["Content"].as_str().unwrap_or_default().to_owned();
                    match call.path.as_str() {
                        "/contact/chat" => seen.push(Seen::Handover(
                            call.body["Attributes"]["topic"].as_str().unwrap().into(),
                        )),
                        "/participant/message" if from_system && !summary_seen => {
                            summary_seen = true
                        }
                        // A closing notice comes before the disconnect.
                        "/participant/message" if from_system && !text.contains("beendet") => {
                            seen.push(Seen::Refused)
                        }
                        "/participant/message" if from_system => {}
                        "/participant/message" => seen.push(Seen::Customer(text)),
                        "/participant/disconnect" => seen.push(Seen::Ended),
                        _ => {}
                    }
                }
                seen
            }
        }
    }
}

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_255_200, 0).unwrap()
}

fn handover() -> Handover {
    Handover {
        conversation: ConversationRef {
            contact: Pseudonym::from_partition("C#3e176c8d0b9a4f21").unwrap(),
            conversation: Ulid::from_parts(1_795_255_000_000, 7),
        },
        topic: "invoice".into(),
        customer_ref: Some("K1002003".into()),
        profile_name: Some("Erika Mustermann".into()),
        contact_kind: ContactKind::Customer,
        summary: vec![SummaryLine {
            actor: Actor::Customer,
            text: "Meine Rechnung ist zu hoch".into(),
            at: at(),
        }],
        at: at(),
    }
}

fn customer_message(text: &str) -> DeskEvent {
    DeskEvent::CustomerMessage {
        conversation: handover().conversation,
        message: Ulid::from_parts(1_795_255_300_000, 1),
        text: text.into(),
        at: at(),
    }
}

#[tokio::test]
async fn a_retried_handover_or_message_reaches_the_agents_once() {
    let clock = ManualClock::new(at());
    for (name, desk, harness) in Harness::all(&clock).await {
        let mut chat: Option<DeskChat> = desk.hand_over(&handover(), "handover-1").await.unwrap();
        let again = desk.hand_over(&handover(), "handover-1").await.unwrap();
        assert_eq!(chat, again, "{name}: a retry finds the same chat");
        for _ in 0..2 {
            desk.tell(chat.as_mut(), &customer_message("Hallo?"), "message-1")
                .await
                .unwrap();
        }
        assert_eq!(
            harness.seen().await,
            [
                Seen::Handover("invoice".into()),
                Seen::Customer("Hallo?".into())
            ],
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_refused_action_and_the_end_reach_the_agents_and_the_chat_keeps_no_tokens() {
    let clock = ManualClock::new(at());
    for (name, desk, harness) in Harness::all(&clock).await {
        let mut chat = desk.hand_over(&handover(), "handover-2").await.unwrap();
        let conversation = handover().conversation;
        let refused = DeskEvent::ActionRejected {
            conversation: conversation.clone(),
            action_id: Ulid::from_parts(1_795_255_400_000, 3),
            reason: RejectReason::OutsideServiceWindow,
        };
        desk.tell(chat.as_mut(), &refused, "rejected-1")
            .await
            .unwrap();
        let closed = DeskEvent::Closed {
            conversation,
            reason: EndReason::Inactivity,
            at: at(),
        };
        desk.tell(chat.as_mut(), &closed, "closed-1").await.unwrap();
        assert_eq!(
            harness.seen().await,
            [Seen::Handover("invoice".into()), Seen::Refused, Seen::Ended],
            "{name}"
        );
        if let Some(chat) = chat {
            assert_eq!(chat.tokens, None, "{name}");
            // Nothing more can be said in an ended chat: the caller keeps it elsewhere.
            let mut chat = Some(chat);
            assert!(
                desk.tell(chat.as_mut(), &customer_message("Noch da?"), "message-9")
                    .await
                    .is_err(),
                "{name}"
            );
        }
    }
}

#[test]
fn stored_tokens_never_show_in_debug_output() {
    let chat = DeskChat {
        contact_id: "c-1".into(),
        conversation: handover().conversation,
        tokens: Some(servicekanal_shared::ports::desk::ChatTokens {
            customer: participant("customer-secret"),
            system: participant("system-secret"),
        }),
    };
    let debug = format!("{chat:?}");
    assert!(!debug.contains("secret"), "{debug}");
    // ... but they are stored (the table keeps them until the chat ends).
    let stored = serde_json::to_string(&chat).unwrap();
    assert!(stored.contains("customer-secret") && stored.contains("connection-system-secret"));
}

fn participant(token: &str) -> servicekanal_shared::ports::desk::Participant {
    use servicekanal_shared::policy::mask::Secret;
    servicekanal_shared::ports::desk::Participant {
        participant_token: Secret(token.into()),
        connection_token: Secret(format!("connection-{token}")),
        connection_expires_at: at(),
    }
}
