//! The phone the end-to-end scripts hold: one WhatsApp user on a local stack, on a manual
//! clock, reading what she received one line per message.

#![allow(dead_code)] // Each test binary uses its own part of it.

use chrono::{DateTime, Duration, Utc};
use servicekanal_cli::stack::{LOCAL_PSEUDONYM_KEY, LocalStack};
use servicekanal_shared::channels::whatsapp::outbox::RecordingOutbox;
use servicekanal_shared::channels::whatsapp::payload::{Sender, UserMessage};
use servicekanal_shared::channels::whatsapp::{OutboundContent, WhatsApp};
use servicekanal_shared::domain::Contact;
use servicekanal_shared::domain::keys::{ItemKey, Pseudonym, Pseudonymizer};
use servicekanal_shared::domain::survey::SurveyTexts;
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::dialogue::{LisaConfig, Texts};
use servicekanal_shared::ports::clock::ManualClock;
use servicekanal_shared::ports::store::{Record, Store};
use std::sync::Arc;

pub const ERIKA: &str = "4917612345678";
pub const ERIKA_NAME: &str = "Erika Mustermann";
/// Lena writes with a username: WhatsApp shows her user id (BSUID), never her number.
pub const LENA_USER_ID: &str = "DE.7715320988410042";
pub const LENA_USERNAME: &str = "lena.k";
pub const LENA_NAME: &str = "Lena Krause";

/// Saturday 21 November 2026, 10:00 in Berlin.
pub fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// One line per message the customer got: the text, then `[button ids]`, `<link>` or `[list]`.
pub fn render(content: &OutboundContent) -> String {
    match content {
        OutboundContent::Text { body } => body.clone(),
        OutboundContent::Buttons { body, buttons, .. } => format!(
            "{body} [{}]",
            buttons
                .iter()
                .map(|b| b.id.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        OutboundContent::Link { body, url, .. } => format!("{body} <{url}>"),
        OutboundContent::List { body, .. } => format!("{body} [list]"),
        OutboundContent::Template { name, .. } => format!("[template {name}]"),
    }
}

/// Erika's phone, with the texts that say what she should see (Lisa's, the survey's).
pub struct Chat {
    pub phone: Phone,
    pub lisa: Texts,
    pub survey_texts: SurveyTexts,
    pub catalogue: Catalogue,
    pub config: LisaConfig,
}

impl std::ops::Deref for Chat {
    type Target = Phone;
    fn deref(&self) -> &Phone {
        &self.phone
    }
}

impl std::ops::DerefMut for Chat {
    fn deref_mut(&mut self) -> &mut Phone {
        &mut self.phone
    }
}

impl Chat {
    /// On a fresh stack; the survey may follow a closed conversation.
    pub fn new() -> Self {
        Self::on(Phone::new())
    }

    /// Lisa's scripts: no survey after a close (the survey scripts have their own).
    pub fn lisa_only() -> Self {
        let clock = ManualClock::new(start());
        let outbox = Arc::new(RecordingOutbox::new(Arc::new(clock.clone())));
        Self::lisa_only_with(clock, outbox.clone(), outbox)
    }

    /// As [`Chat::lisa_only`], sending through `whatsapp` (e.g. one that fails).
    pub fn lisa_only_with(
        clock: ManualClock,
        outbox: Arc<RecordingOutbox>,
        whatsapp: Arc<dyn WhatsApp>,
    ) -> Self {
        let mut phone = Phone::with(clock, outbox, whatsapp);
        phone.stack.survey.config.probability = 0.0;
        Self::on(phone)
    }

    fn on(phone: Phone) -> Self {
        Self {
            phone,
            lisa: Texts::embedded(),
            survey_texts: SurveyTexts::embedded(),
            catalogue: Catalogue::embedded(),
            config: LisaConfig::default(),
        }
    }
}

pub struct Phone {
    pub stack: LocalStack,
    pub clock: ManualClock,
    /// Who writes, as WhatsApp shows them.
    pub sender: Sender,
    seen: usize,
    _dir: tempfile::TempDir,
}

impl Phone {
    /// Erika's phone on a fresh stack with the recording outbox.
    pub fn new() -> Self {
        let clock = ManualClock::new(start());
        let outbox = Arc::new(RecordingOutbox::new(Arc::new(clock.clone())));
        Self::with(clock, outbox.clone(), outbox)
    }

    /// As [`Phone::new`], sending through `whatsapp` (a test double) into `outbox`.
    pub fn with(
        clock: ManualClock,
        outbox: Arc<RecordingOutbox>,
        whatsapp: Arc<dyn WhatsApp>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let stack = LocalStack::open_with(
            dir.path(),
            Arc::new(clock.clone()),
            outbox,
            whatsapp,
            servicekanal_cli::faults::Faults::none(),
        )
        .unwrap();
        Self {
            stack,
            clock,
            sender: Sender::phone(ERIKA, Some(ERIKA_NAME)),
            seen: 0,
            _dir: dir,
        }
    }

    /// What the customer received since the last look.
    pub fn news(&mut self) -> Vec<String> {
        let sent: Vec<_> = self
            .stack
            .outbox
            .sent()
            .into_iter()
            .filter(|e| e.to.id() == self.address())
            .collect();
        let new = sent[self.seen..]
            .iter()
            .map(|e| render(&e.content))
            .collect();
        self.seen = sent.len();
        new
    }

    /// The customer sends a message 20 seconds after the last; returns what came back.
    pub async fn send(&mut self, message: UserMessage) -> Vec<String> {
        self.clock.advance(Duration::seconds(20));
        self.stack.sends_as(&self.sender, &message).await.unwrap();
        self.news()
    }

    pub async fn say(&mut self, text: &str) -> Vec<String> {
        self.send(UserMessage::Text { body: text.into() }).await
    }

    /// A tap on a reply button.
    pub async fn tap(&mut self, id: &str) -> Vec<String> {
        self.send(UserMessage::Button {
            id: id.into(),
            title: id.into(),
        })
        .await
    }

    /// A pick from a list message.
    pub async fn pick(&mut self, id: &str) -> Vec<String> {
        self.send(UserMessage::ListRow {
            id: id.into(),
            title: id.into(),
        })
        .await
    }

    /// Lena's phone (username, no number) on a fresh stack.
    pub fn lena() -> Self {
        let mut phone = Self::new();
        phone.sender = Sender {
            wa_id: None,
            user_id: Some(LENA_USER_ID.into()),
            username: Some(LENA_USERNAME.into()),
            profile_name: Some(LENA_NAME.into()),
        };
        phone
    }

    /// How the phone is reached: its number, or its user id if it shows none.
    pub fn address(&self) -> &str {
        servicekanal_cli::stack::address_of(&self.sender)
    }

    /// The contact id of a first contact: the pseudonym of the number, or of the user id.
    pub fn contact(&self) -> Pseudonym {
        let pseudonymizer = Pseudonymizer::new(LOCAL_PSEUDONYM_KEY.as_bytes().to_vec()).unwrap();
        match &self.sender.wa_id {
            Some(wa_id) => pseudonymizer.contact(wa_id).unwrap(),
            None => pseudonymizer
                .user(self.sender.user_id.as_deref().unwrap())
                .unwrap(),
        }
    }

    pub async fn profile(&self) -> Option<(Record, Contact)> {
        let record = self
            .stack
            .store
            .get(&ItemKey::profile(&self.contact()))
            .await
            .unwrap()?;
        let contact = record.body().unwrap();
        Some((record, contact))
    }
}

/// Runs the `servicekanal` binary (never against a table in AWS); success and its output.
pub fn servicekanal(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_servicekanal"))
        .args(args)
        .env_remove("SERVICEKANAL_TABLE")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Runs the binary with `args` on a blocking thread (the server runs on this runtime).
pub async fn cli(args: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        servicekanal(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap()
}
