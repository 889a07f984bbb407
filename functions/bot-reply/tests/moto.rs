//! bot-reply on its AWS adapters: the table, the customer table and the SQS queues in moto,
//! through the SDK, with the SQS events built from what SQS itself delivered.

use aws_lambda_events::event::sqs::SqsEvent;
use bot_reply::{BotConfig, Ports, handle};
use chrono::{DateTime, Duration, Utc};
use servicekanal_shared::channels::whatsapp::OutboundContent;
use servicekanal_shared::channels::whatsapp::outbox::RecordingOutbox;
use servicekanal_shared::domain::keys::{ItemKey, Pseudonym, Pseudonymizer};
use servicekanal_shared::domain::messages::{BotWork, DeskEvent, Handover, InboundNotice};
use servicekanal_shared::domain::{
    Actor, Contact, ContactKind, DeliveryStatus, Direction, Message, MessageContent, MessageType,
};
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::dialogue::{Lisa, LisaConfig, Texts};
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::{Clock, ManualClock};
use servicekanal_shared::ports::desk::{AgentDesk, QueueDesk};
use servicekanal_shared::ports::directory::DynamoDirectory;
use servicekanal_shared::ports::queue::sqs::SqsQueue;
use servicekanal_shared::ports::queue::{OutgoingMessage, Queue};
use servicekanal_shared::ports::store::Record;
use servicekanal_shared::ports::store::dynamodb::DynamoStore;
use servicekanal_testing::{moto_config, moto_customer_table, moto_queue, moto_table};
use std::sync::Arc;

const CUSTOMER: &str = "4917612345678";

struct Harness {
    ports: Ports,
    clock: ManualClock,
    outbox: Arc<RecordingOutbox>,
    inbound: SqsQueue,
    handover: SqsQueue,
    contact: Pseudonym,
    sent: u32,
}

impl Harness {
    async fn new() -> Self {
        let config = moto_config().await;
        let (dynamo, table) = moto_table(&config).await;
        let (customers_client, customers) = moto_customer_table(&config).await;
        let (sqs, inbound) = moto_queue(&config, "inbound", true).await;
        let (_, handover) = moto_queue(&config, "handover", true).await;
        let (_, closed) = moto_queue(&config, "closed", true).await;
        let (_, agent_actions) = moto_queue(&config, "agent-actions", true).await;
        let (_, timers) = moto_queue(&config, "timers", false).await;
        let (_, surveys) = moto_queue(&config, "survey-answers", true).await;
        let clock = ManualClock::new(DateTime::from_timestamp(1_795_255_200, 0).unwrap());
        let outbox = Arc::new(RecordingOutbox::new(Arc::new(clock.clone())));
        let pseudonymizer = Pseudonymizer::new(vec![7u8; 32]).unwrap();
        let contact = pseudonymizer.contact(CUSTOMER).unwrap();
        let desk: Arc<dyn AgentDesk> = Arc::new(QueueDesk::new(Arc::new(SqsQueue::new(
            sqs.clone(),
            handover.clone(),
        ))));
        let ports = Ports {
            store: Arc::new(DynamoStore::new(dynamo, table, Arc::new(clock.clone()))),
            whatsapp: outbox.clone(),
            directory: Arc::new(DynamoDirectory::new(customers_client, customers)),
            desk: desk.clone(),
            desk_fallback: desk,
            agent_actions_queue: Arc::new(SqsQueue::new(sqs.clone(), agent_actions)),
            closed_queue: Arc::new(SqsQueue::new(sqs.clone(), closed)),
            timer_queue: Arc::new(SqsQueue::new(sqs.clone(), timers)),
            survey_queue: Arc::new(SqsQueue::new(sqs.clone(), surveys)),
            clock: Arc::new(clock.clone()),
            pseudonymizer,
            lisa: Arc::new(Lisa::new(
                Catalogue::embedded(),
                Texts::embedded(),
                LisaConfig::default(),
            )),
            config: BotConfig::default(),
        };
        let mut profile = Contact::new(CUSTOMER, Some("Erika Mustermann".into()), clock.now());
        profile.kind = ContactKind::Customer;
        ports
            .store
            .create(
                &Record::new(
                    ItemKey::profile(&contact),
                    &profile,
                    RetentionClass::Bot7d,
                    clock.now(),
                )
                .unwrap(),
            )
            .await
            .unwrap();
        Self {
            ports,
            clock,
            outbox,
            inbound: SqsQueue::new(sqs.clone(), inbound),
            handover: SqsQueue::new(sqs, handover),
            contact,
            sent: 0,
        }
    }

    /// Stores a customer message as the webhook would and queues its notice.
    async fn customer_writes(&mut self, text: &str) -> InboundNotice {
        self.clock.advance(Duration::seconds(30));
        self.sent += 1;
        let now: DateTime<Utc> = self.clock.now();
        let wamid = format!("wamid.moto.{}", self.sent);
        let message = Message {
            id: servicekanal_shared::domain::messages::message_id_for(&wamid, now),
            conversation_id: None,
            wamid: Some(wamid),
            direction: Direction::Inbound,
            actor: Actor::Customer,
            message_type: MessageType::Text,
            content: MessageContent::Text { body: text.into() },
            at: now,
            delivery: DeliveryStatus::Received,
            error_code: None,
            handling: None,
            facts: None,
            pricing: None,
        };
        let key = ItemKey::message(&self.contact, message.id);
        self.ports
            .store
            .create(&Record::new(key.clone(), &message, RetentionClass::Bot7d, now).unwrap())
            .await
            .unwrap();
        // The profile's last contact moves with each message, as the webhook does it.
        let mut profile = self
            .ports
            .store
            .get(&ItemKey::profile(&self.contact))
            .await
            .unwrap()
            .unwrap();
        let mut body: Contact = profile.body().unwrap();
        body.last_contact_at = now;
        profile.set_body(&body).unwrap();
        self.ports.store.update(&profile).await.unwrap();

        let notice = InboundNotice {
            message: key,
            received_at: now,
        };
        self.inbound
            .send(BotWork::Inbound(notice.clone()).to_queue_message(now))
            .await
            .unwrap();
        notice
    }

    /// Receives from SQS and hands the batch to the handler, as the event source mapping does.
    async fn deliver(&self) -> usize {
        let records = self.inbound.receive(10).await.unwrap();
        let count = records.len();
        let mut event = SqsEvent::default();
        event.records = records.clone();
        let response = handle(event, &self.ports).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        for r in records {
            self.inbound
                .acknowledge(r.receipt_handle.as_deref().unwrap())
                .await
                .unwrap();
        }
        count
    }

    fn seen(&self) -> Vec<String> {
        self.outbox
            .sent()
            .iter()
            .map(|e| match &e.content {
                OutboundContent::Text { body } => body.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }
}

#[tokio::test]
async fn authentication_against_the_customer_table_hands_over_through_sqs() {
    let mut h = Harness::new().await;
    let texts = Texts::embedded();
    h.customer_writes("Ich möchte meinen Vertrag kündigen")
        .await;
    assert_eq!(h.deliver().await, 1);
    h.customer_writes("K1002003").await;
    assert_eq!(h.deliver().await, 1);
    let password = h.customer_writes("Sommer2026!").await;
    assert_eq!(h.deliver().await, 1);
    assert_eq!(
        h.seen(),
        [
            texts.contract_needs_agent.clone(),
            texts.ask_customer_number.clone(),
            texts.ask_password.clone(),
            texts.handover.clone(),
        ]
    );

    // The password message is stored redacted; the profile is now a 13-month service contact.
    let stored: Message = h
        .ports
        .store
        .get(&password.message)
        .await
        .unwrap()
        .unwrap()
        .body()
        .unwrap();
    assert_eq!(stored.content, MessageContent::Redacted);
    let profile = h
        .ports
        .store
        .get(&ItemKey::profile(&h.contact))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(profile.retention, RetentionClass::Service13m);

    // The desk's queue in SQS holds the handover with the CRM's customer reference.
    let desk = h.handover.receive(10).await.unwrap();
    assert_eq!(desk.len(), 1);
    let event: DeskEvent = serde_json::from_str(desk[0].body.as_deref().unwrap()).unwrap();
    let DeskEvent::Handover(Handover {
        topic,
        customer_ref,
        ..
    }) = event
    else {
        panic!("expected a handover, got {event:?}");
    };
    assert_eq!(topic, "cancellation");
    assert_eq!(customer_ref.as_deref(), Some("CRM-K1002003"));

    // SQS redelivers the password message (beyond the dedup window): nothing happens twice.
    let body = serde_json::to_string(&BotWork::Inbound(password)).unwrap();
    h.inbound
        .send(OutgoingMessage::fifo(
            body,
            h.contact.as_str(),
            "redelivery-after-dedup-window",
        ))
        .await
        .unwrap();
    assert_eq!(h.deliver().await, 1);
    assert_eq!(h.seen().len(), 4, "no reply sent twice");
    assert!(h.handover.receive(10).await.unwrap().is_empty());
}
