//! Conversation scripts through Lisa's dialogue, asserting exactly what the customer sees.

use chrono::{DateTime, Duration, Utc};
use servicekanal_shared::channels::whatsapp::OutboundContent;
use servicekanal_shared::domain::{
    AuthAttempts, Channel, Contact, ContactKind, Conversation, ConversationMode, EndReason,
    ReviewTrigger, Understanding,
};
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::dialogue::{Action, Input, Lisa, LisaConfig, State, Texts, ids};
use servicekanal_shared::ports::directory::{CustomerRef, DemoDirectory};
use ulid::Ulid;

struct Chat {
    lisa: Lisa,
    directory: DemoDirectory,
    contact: Contact,
    conversation: Conversation,
    auth: AuthAttempts,
    /// The attempts on the customer numbers it tries (one contact: one shared counter).
    number_auth: AuthAttempts,
    now: DateTime<Utc>,
}

impl Chat {
    fn new() -> Self {
        let now = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Self {
            lisa: Lisa::new(
                Catalogue::embedded(),
                Texts::embedded(),
                LisaConfig::default(),
            ),
            directory: DemoDirectory::demo(),
            contact: Contact::new("4917612345678", Some("Erika Mustermann".into()), now),
            conversation: Conversation::start(Ulid::new(), Channel::Whatsapp, now),
            auth: AuthAttempts::default(),
            number_auth: AuthAttempts::default(),
            now,
        }
    }

    async fn input(&mut self, input: Input) -> Vec<Action> {
        let state = State {
            contact: &mut self.contact,
            conversation: &mut self.conversation,
            auth: &mut self.auth,
            number_auth: &mut self.number_auth,
        };
        self.lisa
            .respond(state, input, self.now, &self.directory)
            .await
            .unwrap()
    }

    async fn say(&mut self, text: &str) -> Vec<Action> {
        self.input(Input::Text(text.into())).await
    }

    async fn tap(&mut self, id: &str) -> Vec<Action> {
        self.input(Input::Choice(id.into())).await
    }
}

/// What the customer sees, one line per message: text, `[button ids]`, `<link url>`.
fn seen(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply(OutboundContent::Text { body }) => Some(body.clone()),
            Action::Reply(OutboundContent::Buttons { body, buttons, .. }) => Some(format!(
                "{body} [{}]",
                buttons
                    .iter()
                    .map(|b| b.id.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            Action::Reply(OutboundContent::Link { body, url, .. }) => {
                Some(format!("{body} <{url}>"))
            }
            Action::Reply(OutboundContent::List {
                body,
                button,
                sections,
                ..
            }) => Some(format!(
                "{body} <{button}: {}>",
                sections
                    .iter()
                    .flat_map(|s| &s.rows)
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            Action::Reply(other) => Some(format!("{other:?}")),
            _ => None,
        })
        .collect()
}

/// What Lisa does besides replying (how she understood the text is bookkeeping, left out).
fn effects(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Reply(_) | Action::Understood(_)))
        .cloned()
        .collect()
}

/// How Lisa understood the message's text, if she read one.
fn understood(actions: &[Action]) -> Option<Understanding> {
    actions.iter().find_map(|a| match a {
        Action::Understood(u) => Some(u.how),
        _ => None,
    })
}

fn reviews(actions: &[Action]) -> Vec<ReviewTrigger> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Review(t) => Some(*t),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn what_lisa_is_unsure_about_or_what_did_not_help_goes_to_review() {
    let mut chat = Chat::new();
    chat.contact.kind = ContactKind::Customer;
    // Sure: answered directly, nothing to review.
    let pin = chat.say("Wo finde ich meine PUK?").await;
    assert_eq!(understood(&pin), Some(Understanding::Directly));
    assert!(reviews(&pin).is_empty());
    // "Did not help": the message she answered goes to review.
    let no = chat.tap(ids::HELPFUL_NO).await;
    assert_eq!(reviews(&no), [ReviewTrigger::NotHelpful]);
    assert_eq!(understood(&no), None, "a button is no text to understand");
    chat.tap(ids::AGENT_NO).await;
    // Torn between two topics: she asks, and the message goes to review.
    let torn = chat.say("tarif und handy").await;
    assert_eq!(understood(&torn), Some(Understanding::BetweenTwo));
    assert_eq!(reviews(&torn), [ReviewTrigger::BetweenTwo]);
    // Not understood at all.
    let lost = chat.say("Was ist die Hauptstadt von Australien?").await;
    assert_eq!(understood(&lost), Some(Understanding::Rephrase));
    assert_eq!(reviews(&lost), [ReviewTrigger::Unsure]);
}

#[tokio::test]
async fn a_handover_after_lisas_answer_sends_that_answer_to_review() {
    let mut chat = Chat::new();
    chat.contact.kind = ContactKind::Customer;
    chat.contact.customer_ref = Some("K1002003".into());
    let answered = chat.say("Wo finde ich meine PUK?").await;
    assert!(reviews(&answered).is_empty());
    let handed = chat.say("Ich möchte mit einem Mitarbeiter sprechen").await;
    assert!(
        effects(&handed).contains(&Action::Review(ReviewTrigger::HandoverAfterAnswer)),
        "{handed:?}"
    );
    // Without an answer before, a handover is no sign of a misunderstanding.
    let mut direct = Chat::new();
    direct.contact.kind = ContactKind::Customer;
    direct.contact.customer_ref = Some("K1002003".into());
    let handed = direct
        .say("Ich möchte mit einem Mitarbeiter sprechen")
        .await;
    assert!(reviews(&handed).is_empty(), "{handed:?}");
}

#[tokio::test]
async fn first_contact_is_greeted_by_name_and_asked_whether_customer() {
    let mut chat = Chat::new();
    let actions = chat.say("Hallo").await;
    assert_eq!(
        seen(&actions),
        [
            "Hallo Erika Mustermann! Ich bin Lisa, die digitale Assistentin im Kundenservice. Bist du schon Kundin oder Kunde bei uns? [kind-customer kind-prospect]"
        ]
    );
    assert_eq!(
        seen(&chat.tap(ids::KIND_CUSTOMER).await),
        ["Wie kann ich dir helfen? Beschreib mir dein Anliegen in ein paar Worten."]
    );
    assert_eq!(chat.contact.kind, ContactKind::Customer);
}

#[tokio::test]
async fn prospects_hear_about_tariffs_and_devices_only() {
    let mut chat = Chat::new();
    chat.say("Hi").await;
    assert_eq!(
        seen(&chat.tap(ids::KIND_PROSPECT).await),
        [
            "Schön, dass du dich für uns interessierst! Ich beantworte dir gern Fragen zu unseren Tarifen und Geräten."
        ]
    );
    assert_eq!(
        seen(&chat.say("Welche Tarife habt ihr?").await),
        [
            "Unsere aktuellen Tarife mit allen Preisen und Datenvolumen findest du hier. <https://www.beispiel-mobilfunk.de/tarife>",
            "Konnte ich dir damit helfen? [helpful-yes helpful-no]",
        ]
    );
    let redirect = chat.say("Ich will meine Rechnung prüfen lassen").await;
    assert_eq!(
        seen(&redirect),
        [
            "Dabei kann ich dir hier leider nicht helfen. Schreib uns gern an service@beispiel-mobilfunk.de, schau auf https://www.beispiel-mobilfunk.de oder ruf uns an: 0800 123 45 67."
        ]
    );
    assert!(
        effects(&redirect).is_empty(),
        "nothing collected, no handover"
    );
    assert_eq!(chat.conversation.pending_customer_number, None);
    // Prospects get only their topics in the list, and may name their company.
    assert_eq!(
        seen(&chat.say("Hmm").await),
        [
            "Das habe ich leider nicht verstanden. Kannst du es anders formulieren? Oder wähle ein Thema: <Themen: topic-tariffs topic-devices>"
        ]
    );
    chat.say("Wir sind die Muster Bau GmbH und suchen Firmentarife")
        .await;
    assert_eq!(
        chat.contact.company_name.as_deref(),
        Some("Muster Bau GmbH")
    );
}

#[tokio::test]
async fn a_customer_gets_an_answer_with_link_and_an_agent_when_it_did_not_help() {
    let mut chat = Chat::new();
    chat.contact.kind = ContactKind::Customer;
    assert_eq!(
        seen(&chat.say("Wie viel GB hab ich noch?").await),
        [
            "Deinen aktuellen Verbrauch siehst du in der App. Ist dein Datenvolumen aufgebraucht, kannst du dort Daten nachbuchen. <https://www.beispiel-mobilfunk.de/hilfe/datenvolumen>",
            "Konnte ich dir damit helfen? [helpful-yes helpful-no]",
        ]
    );
    assert_eq!(
        seen(&chat.tap(ids::HELPFUL_NO).await),
        ["Soll ich dich mit einer Kollegin oder einem Kollegen verbinden? [agent-yes agent-no]"]
    );
    assert_eq!(
        seen(&chat.tap(ids::AGENT_YES).await),
        [
            "Dafür brauchst du meine Kolleginnen und Kollegen. Vorher muss ich kurz prüfen, dass du es wirklich bist.",
            "Bitte schick mir deine Kundennummer (sie steht oben auf deiner Rechnung).",
        ]
    );
}

#[tokio::test]
async fn a_contract_concern_needs_authentication_then_goes_to_an_agent() {
    let mut chat = Chat::new();
    // The concern comes first; Lisa asks who is writing and comes back to it.
    let asked = chat.say("Ich möchte kündigen").await;
    assert!(seen(&asked)[0].ends_with("[kind-customer kind-prospect]"));
    assert_eq!(
        seen(&chat.tap(ids::KIND_CUSTOMER).await),
        [
            "Dafür brauchst du meine Kolleginnen und Kollegen. Vorher muss ich kurz prüfen, dass du es wirklich bist.",
            "Bitte schick mir deine Kundennummer (sie steht oben auf deiner Rechnung).",
        ]
    );
    assert_eq!(
        seen(&chat.say("K-100 200 3").await),
        ["Danke! Und jetzt bitte dein Kundenkennwort. Ich speichere es nicht."]
    );
    let done = chat.say("Sommer2026!").await;
    assert_eq!(
        seen(&done),
        [
            "Danke, ich habe dich an meine Kolleginnen und Kollegen übergeben. Es meldet sich gleich jemand hier im Chat."
        ]
    );
    assert_eq!(
        effects(&done),
        [
            Action::RedactIncoming,
            Action::Authenticated(CustomerRef("K1002003".into())),
            Action::Handover {
                topic: "cancellation".into()
            },
        ]
    );
    assert_eq!(chat.conversation.mode, ConversationMode::Agent);
    assert!(chat.conversation.handed_over && chat.conversation.authenticated);
    assert_eq!(chat.contact.customer_ref.as_deref(), Some("K1002003"));
    assert_eq!(
        chat.conversation.pending_customer_number, None,
        "the number is not kept"
    );
}

#[tokio::test]
async fn three_failed_attempts_lock_the_contact_for_24_hours() {
    let mut chat = Chat::new();
    chat.contact.kind = ContactKind::Customer;
    chat.say("Mitarbeiter bitte").await;
    for attempt in 1..=3 {
        chat.say("K1002003").await;
        let answer = chat.say("falsch").await;
        assert_eq!(
            effects(&answer),
            [Action::RedactIncoming],
            "attempt {attempt}: the password is redacted"
        );
        let expected = if attempt < 3 {
            "Das hat leider nicht gepasst. Versuch es bitte noch einmal mit deiner Kundennummer."
        } else {
            "Aus Sicherheitsgründen kann ich dich heute nicht mehr anmelden. Unsere Hotline hilft dir gern weiter: 0800 123 45 67."
        };
        assert_eq!(seen(&answer), [expected]);
    }
    // Locked: even the right password does not help today.
    assert_eq!(
        seen(&chat.say("Mitarbeiter bitte").await),
        [
            "Aus Sicherheitsgründen kann ich dich heute nicht mehr anmelden. Unsere Hotline hilft dir gern weiter: 0800 123 45 67."
        ]
    );
    chat.now += Duration::hours(24);
    chat.say("Mitarbeiter bitte").await;
    chat.say("K1002003").await;
    let ok = chat.say("Sommer2026!").await;
    assert!(effects(&ok).contains(&Action::Handover {
        topic: "agent".into()
    }));
}

#[tokio::test]
async fn failures_older_than_24_hours_do_not_count_towards_the_lock() {
    let mut chat = Chat::new();
    chat.contact.kind = ContactKind::Customer;
    for _ in 0..2 {
        chat.say("Mitarbeiter bitte").await;
        chat.say("K1002003").await;
        chat.say("falsch").await;
    }
    chat.now += Duration::hours(25);
    chat.say("Mitarbeiter bitte").await;
    chat.say("K1002003").await;
    assert_eq!(
        seen(&chat.say("wieder falsch").await),
        ["Das hat leider nicht gepasst. Versuch es bitte noch einmal mit deiner Kundennummer."],
        "a third failure a day later is the first of a new window"
    );
    assert_eq!(chat.auth.failures, 1);
    assert_eq!(chat.auth.locked_until, None);
}

#[tokio::test]
async fn after_two_unknown_messages_lisa_offers_an_agent() {
    let mut chat = Chat::new();
    chat.contact.kind = ContactKind::Customer;
    assert_eq!(
        seen(&chat.say("Wie wird das Wetter?").await),
        [
            "Das habe ich leider nicht verstanden. Kannst du es anders formulieren? Oder wähle ein Thema: <Themen: topic-agent topic-bill topic-tariffs topic-contract-change topic-sim-activation topic-pin-puk topic-network topic-roaming topic-devices topic-data-usage>"
        ]
    );
    // A topic picked from the list is understood by its id.
    chat.tap("topic-roaming").await;
    assert_eq!(
        chat.conversation.topics.last().map(String::as_str),
        Some("roaming")
    );
    chat.say("Wie wird das Wetter?").await;
    assert_eq!(
        seen(&chat.say("asdf jkl").await),
        [
            "Ich verstehe dich leider immer noch nicht. Soll ich dich mit einer Kollegin oder einem Kollegen verbinden? [agent-yes agent-no]"
        ]
    );
}

#[tokio::test]
async fn privacy_explains_retention_and_erases_on_confirmation() {
    let mut chat = Chat::new();
    let info = chat.say("Welche Daten speichert ihr über mich?").await;
    let lines = seen(&info);
    assert!(
        lines[0].contains("7 Tage") && lines[0].contains("13 Monate"),
        "{lines:?}"
    );
    assert!(lines[1].ends_with("[privacy-erase privacy-keep]"));
    let erased = chat.tap(ids::PRIVACY_ERASE).await;
    assert_eq!(effects(&erased), [Action::Erase]);
}

#[tokio::test]
async fn goodbye_closes_the_conversation_and_media_is_not_guessed_at() {
    let mut chat = Chat::new();
    chat.contact.kind = ContactKind::Customer;
    assert_eq!(
        seen(&chat.input(Input::Other).await),
        ["Damit kann ich leider nichts anfangen. Schreib mir dein Anliegen bitte als Text."]
    );
    let bye = chat.say("Danke, tschüss!").await;
    assert_eq!(effects(&bye), [Action::Close(EndReason::Goodbye)]);
}

#[tokio::test]
async fn every_reply_respects_whatsapp_limits() {
    let mut chat = Chat::new();
    let mut all = Vec::new();
    for step in [
        "Hallo",
        "kind-customer",
        "Roaming in Spanien?",
        "helpful-no",
        "agent-yes",
        "K1002003",
        "Sommer2026!",
    ] {
        let actions = if step.contains('-') && !step.contains(' ') {
            chat.tap(step).await
        } else {
            chat.say(step).await
        };
        all.extend(actions);
    }
    for action in all {
        if let Action::Reply(content) = action {
            content
                .validate()
                .unwrap_or_else(|e| panic!("{content:?}: {e}"));
        }
    }
}
