//! Survey scripts through the whole path: a conversation closes (bot-reply), the survey is
//! offered (survey function, conversation-closed queue), the customer's answers come back
//! through the webhook and bot-reply routes them to the survey (survey-answers queue).

use chrono::{DateTime, Duration};
use servicekanal_shared::channels::whatsapp::OutboundContent;
use servicekanal_shared::domain::keys::ItemKey;
use servicekanal_shared::domain::messages::{ConversationClosed, ConversationRef};
use servicekanal_shared::domain::survey::ids as survey_ids;
use servicekanal_shared::domain::{EndReason, SurveyAnswer, SurveyStep};
use servicekanal_shared::lisa::dialogue::ids;
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::Clock;
use servicekanal_shared::ports::queue::Queue;
use servicekanal_shared::ports::store::Store;

use crate::common;

use common::{Chat, ERIKA, render};

impl Chat {
    /// A short bot conversation ended by "Tschüss"; returns what came after the goodbye.
    async fn goodbye(&mut self) -> Vec<String> {
        self.say("Hallo").await;
        if self.stack.outbox.sent().last().is_some_and(|e| {
            matches!(&e.content, OutboundContent::Buttons { buttons, .. } if buttons[0].id == ids::KIND_CUSTOMER)
        }) {
            self.tap(ids::KIND_CUSTOMER).await;
        }
        let after = self.say("Danke, tschüss!").await;
        assert_eq!(after[0], self.lisa.goodbye, "{after:?}");
        after[1..].to_vec()
    }

    fn ask(&self, step: SurveyStep) -> String {
        render(&self.survey_texts.question(step))
    }

    async fn answers(&self) -> Vec<(RetentionClass, SurveyAnswer)> {
        self.stack
            .store
            .readable_items()
            .unwrap()
            .into_iter()
            .filter(|r| r.key.pk.starts_with("SURVEY#"))
            .map(|r| (r.retention, r.body().unwrap()))
            .collect()
    }

    fn contact_ref(&self, conversation: ulid::Ulid) -> ConversationRef {
        ConversationRef {
            contact: self.contact(),
            conversation,
        }
    }
}

#[tokio::test]
async fn a_fully_answered_survey_is_stored_for_13_months_and_lisa_takes_over_again() {
    let mut chat = Chat::new();
    assert_eq!(chat.goodbye().await, [chat.ask(SurveyStep::Score)]);
    assert_eq!(
        chat.pick(&format!("{}4", survey_ids::SCORE_PREFIX)).await,
        [chat.ask(SurveyStep::Solved)]
    );
    assert_eq!(
        chat.tap(survey_ids::SOLVED_YES).await,
        [chat.ask(SurveyStep::Comment)]
    );
    assert_eq!(
        chat.say("Sehr freundlich, danke!").await,
        [chat.survey_texts.thanks.clone()]
    );
    let answers = chat.answers().await;
    assert_eq!(answers.len(), 1);
    let (class, answer) = &answers[0];
    assert_eq!(*class, RetentionClass::Survey13m);
    assert_eq!(
        (answer.score, answer.solved, answer.comment.as_deref()),
        (Some(4), Some(true), Some("Sehr freundlich, danke!"))
    );
    assert!(!answer.handed_over);
    // The survey is over: the next message is Lisa's again.
    let next = chat.say("Wo finde ich meine PUK?").await;
    assert_eq!(
        next.len(),
        2,
        "Lisa's answer and 'did that help?': {next:?}"
    );
    assert_eq!(chat.answers().await.len(), 1);
}

#[tokio::test]
async fn every_step_can_be_skipped_and_unclear_answers_are_asked_again() {
    let mut chat = Chat::new();
    chat.goodbye().await;
    assert_eq!(
        chat.say("hmm").await,
        [chat.ask(SurveyStep::Score)],
        "asked again"
    );
    assert_eq!(
        chat.pick(survey_ids::SKIP).await,
        [chat.ask(SurveyStep::Solved)]
    );
    assert_eq!(
        chat.tap(survey_ids::SKIP).await,
        [chat.ask(SurveyStep::Comment)]
    );
    assert_eq!(
        chat.tap(survey_ids::SKIP).await,
        [chat.survey_texts.thanks.clone()]
    );
    let answers = chat.answers().await;
    assert_eq!(
        (
            answers[0].1.score,
            answers[0].1.solved,
            answers[0].1.comment.clone()
        ),
        (None, None, None)
    );
}

#[tokio::test]
async fn an_unanswered_survey_expires_and_the_conversation_returns_to_normal() {
    let mut chat = Chat::new();
    chat.goodbye().await;
    chat.clock.advance(Duration::hours(24));
    let lisa = chat.say("Hallo").await;
    assert!(
        lisa[0].starts_with("Hallo Erika Mustermann!"),
        "Lisa greets again: {lisa:?}"
    );
    assert!(chat.answers().await.is_empty());
}

#[tokio::test]
async fn once_per_30_days_and_only_for_the_sampled_share() {
    let mut chat = Chat::new();
    assert_eq!(chat.goodbye().await, [chat.ask(SurveyStep::Score)]);
    chat.pick(survey_ids::SKIP).await;
    chat.tap(survey_ids::SKIP).await;
    chat.tap(survey_ids::SKIP).await;
    // Another conversation three days later: no survey within 30 days. (A bot-only contact
    // is forgotten after 7 days, and with it when she was asked: privacy before the rule.)
    chat.clock.advance(Duration::days(3));
    assert!(chat.goodbye().await.is_empty());
    // 31 days after the first: offered again.
    chat.clock.advance(Duration::days(28));
    assert_eq!(chat.goodbye().await, [chat.ask(SurveyStep::Score)]);

    // With a sampling share of 0, nobody is asked.
    let mut none = Chat::new();
    none.stack.survey.config.probability = 0.0;
    assert!(none.goodbye().await.is_empty());
    assert_eq!(
        none.stack.closed_events().await.unwrap()[0].reason,
        EndReason::Goodbye
    );
}

#[tokio::test]
async fn outside_the_window_a_template_or_nothing_and_never_to_a_locked_or_erased_contact() {
    let mut chat = Chat::new();
    chat.say("Hallo").await;
    let (_, profile) = chat.profile().await.unwrap();
    let conversation = profile.current_conversation.unwrap();
    let close = |chat: &Chat| {
        let closed = ConversationClosed {
            conversation: chat.contact_ref(conversation),
            reason: EndReason::AgentClosed,
            at: chat.clock.now(),
        };
        let queue = chat.stack.queues.closed.clone();
        async move { queue.send(closed.to_queue_message()).await.unwrap() }
    };
    // Closed 25 hours after Erika's last message: no free-form survey, and no template set.
    chat.clock.advance(Duration::hours(25));
    close(&chat).await;
    chat.stack.run().await;
    assert!(chat.news().is_empty());
    // With an approved template, the survey is offered through it.
    chat.stack.survey.config.template = Some(("zufriedenheit_umfrage".into(), "de".into()));
    chat.clock.advance(Duration::minutes(10));
    close(&chat).await;
    chat.stack.run().await;
    assert_eq!(chat.news(), ["[template zufriedenheit_umfrage]"]);

    // A locked contact is not asked.
    let mut locked = Chat::new();
    locked.say("Hallo").await;
    locked.tap(ids::KIND_CUSTOMER).await;
    for _ in 0..3 {
        locked.say("Mitarbeiter bitte").await;
        locked.say("K1002003").await;
        locked.say("falsch").await;
    }
    assert_eq!(
        locked.say("Tschüss").await,
        [locked.lisa.goodbye.clone()],
        "no survey after the goodbye"
    );

    // An erased contact is not asked either.
    let mut erased = Chat::new();
    erased.say("Hallo").await;
    erased.say("Welche Daten speichert ihr?").await;
    erased.tap(ids::PRIVACY_ERASE).await;
    let gone = ConversationClosed {
        conversation: erased.contact_ref(conversation),
        reason: EndReason::Inactivity,
        at: erased.clock.now(),
    };
    erased
        .stack
        .queues
        .closed
        .send(gone.to_queue_message())
        .await
        .unwrap();
    erased.stack.run().await;
    assert!(erased.news().is_empty());
}

fn sample(name: &str) -> aws_lambda_events::event::sqs::SqsEvent {
    let path = format!(
        "{}/../events/survey/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The files in events/survey, through the survey handler on the local stack, where their
/// keys name the sample customer and her conversation.
#[tokio::test]
async fn every_survey_sample_event_is_handled() {
    use servicekanal_shared::domain::{
        Actor, Channel, Contact, Conversation, DeliveryStatus, Direction, Message, MessageContent,
        MessageType,
    };
    use servicekanal_shared::ports::store::Record;
    let mut chat = Chat::new();
    let at = DateTime::from_timestamp(1_795_255_200, 0).unwrap();
    chat.clock.set(at + Duration::seconds(10));
    let conversation: ulid::Ulid = "01KAK3YH00A1B2C3D4E5F6G7H8".parse().unwrap();
    let contact = chat.contact_ref(conversation).contact;
    let mut profile = Contact::new(ERIKA, Some("Erika Mustermann".into()), at);
    profile.current_conversation = Some(conversation);
    let mut closed = Conversation::start(conversation, Channel::Whatsapp, at);
    closed.handed_over = true;
    for record in [
        Record::new(
            ItemKey::profile(&contact),
            &profile,
            RetentionClass::Service13m,
            at,
        )
        .unwrap(),
        Record::new(
            ItemKey::conversation(&contact, conversation),
            &closed,
            RetentionClass::Service13m,
            at,
        )
        .unwrap(),
    ] {
        chat.stack.store.create(&record).await.unwrap();
    }
    let response = survey::handle(sample("conversation-closed"), &chat.stack.survey).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(chat.news(), [chat.ask(SurveyStep::Score)]);

    // The reply the sample names: Erika picked "5" (stored by the webhook, routed by bot-reply).
    let reply_id: ulid::Ulid = "01KAK4A100S7V9X1Z3B5D7F9H1".parse().unwrap();
    let reply = Message {
        id: reply_id,
        conversation_id: Some(conversation),
        wamid: Some("wamid.sample.survey".into()),
        direction: Direction::Inbound,
        actor: Actor::Customer,
        message_type: MessageType::Interactive,
        content: MessageContent::Choice {
            id: format!("{}5", survey_ids::SCORE_PREFIX),
            title: "5 – sehr zufrieden".into(),
        },
        at: at + Duration::seconds(8),
        delivery: DeliveryStatus::Received,
        error_code: None,
        handling: None,
        facts: None,
        pricing: None,
    };
    chat.stack
        .store
        .create(
            &Record::new(
                ItemKey::message(&contact, reply_id),
                &reply,
                RetentionClass::Service13m,
                reply.at,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let response = survey::handle(sample("survey-reply"), &chat.stack.survey).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(chat.news(), [chat.ask(SurveyStep::Solved)]);
    let answers = chat.answers().await;
    assert_eq!(answers[0].1.score, Some(5));
    assert!(
        answers[0].1.handed_over,
        "the survey knows the conversation was handed over"
    );
    // Delivered twice (an SQS retry): nothing happens again.
    survey::handle(sample("survey-reply"), &chat.stack.survey).await;
    assert!(chat.news().is_empty());
}
