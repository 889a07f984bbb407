//! The local stack: every function's real handler wired to the local adapters (embedded
//! store, in-process queues, recording outbox, demo customer directory), in one process.
//! Queue messages reach the handlers as the same `aws_lambda_events` SQS events Lambda
//! delivers, and failed items come back like an SQS retry.

use crate::faults::{Faults, FaultyObjects, FaultyQueue, FaultyWhatsApp, StoreSwitch};
use anyhow::{Context, Result, bail};
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, Utc};
use lambda_http::Body;
use lambda_http::http::Request;
use servicekanal_shared::channels::whatsapp::WhatsApp;
use servicekanal_shared::channels::whatsapp::outbox::RecordingOutbox;
use servicekanal_shared::channels::whatsapp::payload::{
    SIGNATURE_HEADER, Sender, UserMessage, WaPricing, WebhookPayload, sign,
};
use servicekanal_shared::domain::identity::{Identifier, Identities};
use servicekanal_shared::domain::keys::{ItemKey, Pseudonymizer};
use servicekanal_shared::domain::messages::{AgentAction, BotWork, DeskEvent};
use servicekanal_shared::domain::{Contact, Recipient};
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::dialogue::{Lisa, LisaConfig, Texts};
use servicekanal_shared::policy::mask;
use servicekanal_shared::policy::mask::Secret;
use servicekanal_shared::ports::clock::SharedClock;
use servicekanal_shared::ports::contact_records::RecordedRedactions;
use servicekanal_shared::ports::desk::{AgentDesk, QueueDesk};
use servicekanal_shared::ports::directory::DemoDirectory;
use servicekanal_shared::ports::objects::local::{LocalDirectory, replace_file};
use servicekanal_shared::ports::queue::Queue;
use servicekanal_shared::ports::queue::memory::InProcessQueue;
use servicekanal_shared::ports::store::embedded::EmbeddedStore;
use servicekanal_shared::ports::store::faulty::FaultyStore;
use servicekanal_shared::ports::store::{ChangeFeed, Store};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The local stack's app secret: `curl` and the files in `events/` are signed with it.
pub const LOCAL_APP_SECRET: &str = "servicekanal-local-app-secret";
pub const LOCAL_VERIFY_TOKEN: &str = "servicekanal-local-verify-token";
/// How far back the local sweeper looks for due items (ten years: everything).
const LOCAL_SWEEP_LOOKBACK_DAYS: i64 = 3650;
/// Pseudonym key of the local stack (never used in AWS, where Secrets Manager generates one).
pub const LOCAL_PSEUDONYM_KEY: &str = "servicekanal-local-pseudonym-key-not-for-production";
pub const LOCAL_PHONE_NUMBER_ID: &str = "100000000000001";
/// Records per statistics batch (the event source mapping's batch size in template.yaml).
pub const STATS_BATCH: usize = 1000;
/// The queues' `VisibilityTimeout` in template.yaml: a message received and neither
/// acknowledged nor released is delivered again after this long.
pub const QUEUE_VISIBILITY: std::time::Duration = std::time::Duration::from_secs(180);
/// Where the recording outbox keeps what was "sent" (see [`RecordingOutbox::journalled`]).
pub const OUTBOX_FILE: &str = "outbox.jsonl";
/// The queues' `maxReceiveCount` in template.yaml: a message received this often without
/// succeeding moves to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;
/// How long a sender waits at most for consumer turns under way elsewhere (a bot turn waits
/// up to its burst window of 2 s).
const TURNS_WAITED_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// One consumer turn under way, counted while it lives.
struct Turn<'a>(&'a AtomicUsize);

impl<'a> Turn<'a> {
    fn start(turns: &'a AtomicUsize) -> Self {
        turns.fetch_add(1, Ordering::AcqRel);
        Self(turns)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The in-process queues, named like their SQS counterparts in template.yaml.
pub struct Queues {
    /// What failed [`MAX_RECEIVES`] times, from any consumer's queue (ops redrive it in AWS).
    pub dead_letters: Arc<InProcessQueue>,
    pub inbound: Arc<InProcessQueue>,
    pub agent_actions: Arc<InProcessQueue>,
    pub timers: Arc<InProcessQueue>,
    pub handover: Arc<InProcessQueue>,
    pub closed: Arc<InProcessQueue>,
    pub sales_callbacks: Arc<InProcessQueue>,
    pub survey_answers: Arc<InProcessQueue>,
}

impl Queues {
    /// The queues the local consumers read, each with who reads it (the event source
    /// mappings of template.yaml).
    fn consumed(&self) -> [(&Arc<InProcessQueue>, Consumer); 5] {
        [
            (&self.inbound, Consumer::Bot),
            (&self.agent_actions, Consumer::Bot),
            (&self.timers, Consumer::Bot),
            (&self.closed, Consumer::SurveyOnClose),
            (&self.survey_answers, Consumer::Survey),
        ]
    }

    /// Every queue: the consumed ones, the desk's handover queue, sales' and the dead letters.
    fn all(&self) -> [&Arc<InProcessQueue>; 8] {
        [
            &self.inbound,
            &self.agent_actions,
            &self.timers,
            &self.closed,
            &self.survey_answers,
            &self.handover,
            &self.sales_callbacks,
            &self.dead_letters,
        ]
    }
}

#[derive(Clone, Copy)]
enum Consumer {
    Bot,
    Survey,
    /// The survey on the conversation-closed queue, noting each closed conversation.
    SurveyOnClose,
}

/// What the local page shows of a contact's identifiers: masked, and how replies reach it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoredIdentity {
    pub phone: Option<String>,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub profile_name: Option<String>,
    /// `phone` (`to`) or `user-id` (`recipient`).
    pub reached_by: Option<&'static str>,
}

/// How a simulated phone is named: its number, or its user id if it shows none (replies
/// reach it the same way).
pub fn address_of(sender: &Sender) -> &str {
    sender
        .wa_id
        .as_deref()
        .or(sender.user_id.as_deref())
        .unwrap_or_default()
}

/// One line of a simulated phone's chat: what the user sent or what came from the business.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PhoneLine {
    pub at: DateTime<Utc>,
    /// `user` or `business`.
    pub from: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<UserMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<servicekanal_shared::channels::whatsapp::OutboundContent>,
}

pub struct LocalStack {
    /// Consumer turns under way, in any [`LocalStack::run`].
    turns: AtomicUsize,
    pub clock: SharedClock,
    /// The store itself; the functions reach it through the fault switch.
    pub store: Arc<EmbeddedStore>,
    /// The fault switch between the functions and every port (off unless planned).
    pub faults: Arc<Faults>,
    pub outbox: Arc<RecordingOutbox>,
    pub queues: Queues,
    pub webhook: whatsapp_webhook::Ports,
    pub bot: bot_reply::Ports,
    pub voice: voice_intake::Ports,
    pub survey: survey::Ports,
    /// stats-export, writing to `<data dir>/stats/` (the bucket's stand-in).
    pub stats: stats_export::Ports,
    /// Lisa's labelled examples (`training/labelled/...`), in `<data dir>/lisa/`: the
    /// stand-in of the bucket's `training/` prefix, apart from the statistics tables.
    pub examples: Arc<dyn servicekanal_shared::ports::objects::ObjectStore>,
    /// The retention sweeper, run after every clock move and every minute by `dev`.
    pub sweeper: retention_sweeper::Ports,
    /// Where the export stands in the change feed (kept across restarts, like the stream
    /// position of the event source mapping); the lock keeps one export at a time.
    stats_position: tokio::sync::Mutex<PathBuf>,
    /// connect-records, on the change feed like stats-export: Connect's records of callback
    /// requests and handover chats redacted when our items go. Locally, Connect is a recording
    /// of which contacts would have been redacted.
    pub connect_records: connect_records::Ports,
    pub connect_redactions: Arc<RecordedRedactions>,
    connect_records_position: tokio::sync::Mutex<PathBuf>,
    /// Conversation-closed events, as the survey consumed them.
    closed_log: Mutex<Vec<servicekanal_shared::domain::messages::ConversationClosed>>,
    /// Outbox entries WhatsApp's `sent` status was simulated for (see [`LocalStack::run`]).
    statuses_reported: tokio::sync::Mutex<usize>,
    max_receives: std::sync::atomic::AtomicU32,
    /// Whether the stack plays WhatsApp's statuses (not when a real number sends: then
    /// WhatsApp posts them to the webhook itself).
    pub simulate_statuses: bool,
    /// What simulated users sent, per WhatsApp id (the phone keeps its chat).
    sent_by_users: Mutex<Vec<(String, PhoneLine)>>,
    /// Everything the agent desk received, oldest first.
    desk_log: Mutex<Vec<DeskEvent>>,
}

/// What a caller tells the voice assistant.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Call {
    /// The number the call comes from (Connect's `CustomerEndpoint.Address`).
    pub caller: String,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub window: Option<String>,
    pub callback_number: Option<String>,
}

/// What one run of the queue consumers did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    pub handled: usize,
    /// Items reported as failed (they stay queued for the next run).
    pub failed: usize,
    /// Items that failed [`MAX_RECEIVES`] times and went to the dead-letter queue.
    pub dead_lettered: usize,
}

impl LocalStack {
    /// Opens the stack on `data_dir` (created if missing) with the recording outbox.
    pub fn open(data_dir: &Path, clock: SharedClock) -> Result<Self> {
        Self::open_faulty(data_dir, clock, Faults::none())
    }

    /// As [`LocalStack::open`], every port behind the fault switch `faults`.
    pub fn open_faulty(data_dir: &Path, clock: SharedClock, faults: Arc<Faults>) -> Result<Self> {
        let outbox = Self::outbox(data_dir, clock.clone())?;
        Self::open_with(data_dir, clock, outbox.clone(), outbox, faults)
    }

    /// The recording outbox kept in `data_dir` (what WhatsApp delivered stays delivered).
    pub fn outbox(data_dir: &Path, clock: SharedClock) -> Result<Arc<RecordingOutbox>> {
        std::fs::create_dir_all(data_dir)?;
        Ok(Arc::new(
            RecordingOutbox::journalled(clock, &data_dir.join(OUTBOX_FILE))
                .context("opening the local outbox")?,
        ))
    }

    /// As [`LocalStack::open`], sending through `whatsapp` (the Graph API, or a test double)
    /// while `outbox` still shows what the simulator knows.
    pub fn open_with(
        data_dir: &Path,
        clock: SharedClock,
        outbox: Arc<RecordingOutbox>,
        whatsapp: Arc<dyn WhatsApp>,
        faults: Arc<Faults>,
    ) -> Result<Self> {
        let store = Arc::new(
            EmbeddedStore::open(data_dir, clock.clone()).context("opening the embedded store")?,
        );
        // The queues keep their messages in the store: a crash loses none.
        let queue = |name: &str| -> Result<Arc<InProcessQueue>> {
            Ok(Arc::new(
                InProcessQueue::durable(name, clock.clone(), store.clone())
                    .with_context(|| format!("opening queue {name}"))?
                    .with_visibility(QUEUE_VISIBILITY),
            ))
        };
        let queues = Queues {
            dead_letters: queue("servicekanal-dead-letters")?,
            inbound: queue("servicekanal-inbound.fifo")?,
            agent_actions: queue("servicekanal-agent-actions.fifo")?,
            timers: queue("servicekanal-timers")?,
            handover: queue("servicekanal-handover.fifo")?,
            closed: queue("servicekanal-conversation-closed.fifo")?,
            sales_callbacks: queue("servicekanal-sales-callbacks.fifo")?,
            survey_answers: queue("servicekanal-survey-answers.fifo")?,
        };
        // What the functions reach: every port behind the fault switch.
        let raw_store = store;
        let store: Arc<dyn Store> = Arc::new(FaultyStore::with_faults(
            raw_store.clone(),
            StoreSwitch(faults.clone()),
        ));
        let faulty = |queue: &Arc<InProcessQueue>| -> Arc<dyn Queue> {
            Arc::new(FaultyQueue {
                inner: queue.clone(),
                faults: faults.clone(),
            })
        };
        let whatsapp: Arc<dyn WhatsApp> = Arc::new(FaultyWhatsApp {
            inner: whatsapp,
            faults: faults.clone(),
        });
        let pseudonymizer = Pseudonymizer::new(LOCAL_PSEUDONYM_KEY.as_bytes().to_vec())?;
        let webhook = whatsapp_webhook::Ports {
            store: store.clone(),
            inbound_queue: faulty(&queues.inbound),
            clock: clock.clone(),
            pseudonymizer: pseudonymizer.clone(),
            config: whatsapp_webhook::WebhookConfig {
                app_secret: Secret(LOCAL_APP_SECRET.to_owned()),
                verify_token: Secret(LOCAL_VERIFY_TOKEN.to_owned()),
                max_body_bytes: whatsapp_webhook::DEFAULT_MAX_BODY_BYTES,
            },
        };
        let connect_redactions = Arc::new(RecordedRedactions::default());
        let local_desk: Arc<dyn AgentDesk> = Arc::new(QueueDesk::new(faulty(&queues.handover)));
        let bot = bot_reply::Ports {
            store: store.clone(),
            whatsapp,
            directory: Arc::new(DemoDirectory::demo()),
            // The local desk is the handover queue (the page's agent desk reads it).
            desk: local_desk.clone(),
            desk_fallback: local_desk,
            agent_actions_queue: faulty(&queues.agent_actions),
            closed_queue: faulty(&queues.closed),
            timer_queue: faulty(&queues.timers),
            survey_queue: faulty(&queues.survey_answers),
            clock: clock.clone(),
            pseudonymizer,
            lisa: Arc::new(Lisa::new(
                Catalogue::embedded(),
                Texts::embedded(),
                LisaConfig::default(),
            )),
            config: bot_reply::BotConfig::default(),
        };
        let voice = voice_intake::Ports {
            store: store.clone(),
            sales_queue: faulty(&queues.sales_callbacks),
            clock: clock.clone(),
            catalogue: servicekanal_shared::domain::callback::CallbackCatalogue::embedded(),
            pseudonymizer: bot.pseudonymizer.clone(),
        };
        let survey = survey::Ports {
            store: store.clone(),
            whatsapp: bot.whatsapp.clone(),
            clock: clock.clone(),
            pseudonymizer: bot.pseudonymizer.clone(),
            texts: servicekanal_shared::domain::survey::SurveyTexts::embedded(),
            config: survey::SurveyConfig::default(),
        };
        let stats = stats_export::Ports {
            objects: Arc::new(FaultyObjects {
                inner: Arc::new(LocalDirectory::new(data_dir.join("stats"))),
                faults: faults.clone(),
            }),
        };
        let sweeper = retention_sweeper::Ports {
            store: store.clone(),
            clock: clock.clone(),
            config: retention_sweeper::SweepConfig {
                // The embedded index costs nothing per hour searched, and the page's clock
                // jumps months: look back as far as anything can be.
                lookback: chrono::Duration::days(LOCAL_SWEEP_LOOKBACK_DAYS),
                ..retention_sweeper::SweepConfig::default()
            },
        };
        Ok(Self {
            sweeper,
            clock,
            store: raw_store,
            faults,
            outbox,
            queues,
            webhook,
            bot,
            voice,
            survey,
            stats,
            examples: Arc::new(LocalDirectory::new(data_dir.join("lisa"))),
            stats_position: tokio::sync::Mutex::new(data_dir.join("stats-position")),
            connect_records: connect_records::Ports {
                records: connect_redactions.clone(),
            },
            connect_redactions,
            connect_records_position: tokio::sync::Mutex::new(
                data_dir.join("connect-records-position"),
            ),
            closed_log: Mutex::new(Vec::new()),
            statuses_reported: tokio::sync::Mutex::new(0),
            max_receives: std::sync::atomic::AtomicU32::new(MAX_RECEIVES),
            turns: AtomicUsize::new(0),
            simulate_statuses: true,
            sent_by_users: Mutex::new(Vec::new()),
            desk_log: Mutex::new(Vec::new()),
        })
    }

    /// One retention sweep, as the schedule runs it in AWS; its deletions reach the statistics.
    pub async fn sweep(&self) -> Result<retention_sweeper::SweepReport> {
        let report = retention_sweeper::sweep(&self.sweeper).await?;
        self.export_stats().await?;
        Ok(report)
    }

    /// The person a phone number names (for erasure, access and holds).
    pub async fn person(
        &self,
        phone: &str,
    ) -> Result<servicekanal_shared::policy::privacy::Person> {
        let who = servicekanal_shared::policy::privacy::PersonRef::Phone(phone.to_owned());
        Ok(servicekanal_shared::policy::privacy::find_person(
            self.store.as_ref(),
            &self.bot.pseudonymizer,
            &who,
        )
        .await?)
    }

    /// Serves one webhook request exactly as the Lambda function would.
    pub async fn webhook(&self, request: lambda_http::Request) -> lambda_http::Response<Body> {
        whatsapp_webhook::handle(request, &self.webhook).await
    }

    /// A WhatsApp user known by phone number sends a message (see [`LocalStack::sends_as`]).
    pub async fn user_sends(
        &self,
        wa_id: &str,
        profile_name: Option<&str>,
        message: &UserMessage,
    ) -> Result<String> {
        self.sends_as(&Sender::phone(wa_id, profile_name), message)
            .await
    }

    /// A WhatsApp user sends a message: a signed webhook POST, then the consumers run.
    /// Returns the WhatsApp message id it was given.
    pub async fn sends_as(&self, sender: &Sender, message: &UserMessage) -> Result<String> {
        let wamid = self.post_as(sender, message).await?;
        self.sent_by_users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((
                address_of(sender).to_owned(),
                PhoneLine {
                    at: self.clock.now(),
                    from: "user",
                    sent: Some(message.clone()),
                    received: None,
                },
            ));
        self.run_to_the_end().await;
        Ok(wamid)
    }

    /// Only the webhook half of [`LocalStack::user_sends`]: the message is stored and queued.
    pub async fn post_user_message(
        &self,
        wa_id: &str,
        profile_name: Option<&str>,
        message: &UserMessage,
    ) -> Result<String> {
        self.post_as(&Sender::phone(wa_id, profile_name), message)
            .await
    }

    /// Only the webhook half of [`LocalStack::sends_as`].
    pub async fn post_as(&self, sender: &Sender, message: &UserMessage) -> Result<String> {
        let wamid = format!("wamid.local.in.{}", ulid::Ulid::new());
        let payload = WebhookPayload::inbound(
            LOCAL_PHONE_NUMBER_ID,
            sender,
            &wamid,
            self.clock.now(),
            message,
        );
        self.post_signed(&payload).await?;
        Ok(wamid)
    }

    /// POSTs a payload to the webhook, signed as WhatsApp signs it.
    async fn post_signed(&self, payload: &WebhookPayload) -> Result<()> {
        let body = serde_json::to_vec(payload)?;
        let request = Request::builder()
            .method("POST")
            .uri(whatsapp_webhook::WEBHOOK_PATH)
            .header("content-type", "application/json")
            // Signed like WhatsApp signs: with the app secret the webhook checks.
            .header(
                SIGNATURE_HEADER,
                sign(self.webhook.config.app_secret.expose().as_bytes(), &body),
            )
            .body(Body::from(body))?;
        let response = self.webhook(request).await;
        if response.status() != 200 {
            bail!("the webhook answered {}", response.status());
        }
        Ok(())
    }

    /// The agent desk acts: the action goes on the agent-actions queue, then consumers run.
    pub async fn agent_acts(&self, action: AgentAction) -> Result<RunReport> {
        let work = BotWork::AgentAction(action);
        self.queues
            .agent_actions
            .send(work.to_queue_message(self.clock.now()))
            .await?;
        Ok(self.run_to_the_end().await)
    }

    /// [`LocalStack::run`], then a wait (up to [`TURNS_WAITED_FOR`]) for the turns other runs
    /// took on meanwhile: `dev`'s consumers may take a message just sent before this run
    /// does, and what was sent is answered only when their turn is done.
    async fn run_to_the_end(&self) -> RunReport {
        let report = self.run().await;
        let until = std::time::Instant::now() + TURNS_WAITED_FOR;
        while self.turns.load(Ordering::Acquire) > 0 && std::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        report
    }

    /// Runs the queue consumers (bot-reply on its three queues, the survey on its two) until
    /// nothing is left that can succeed now (delayed timers wait for the clock).
    pub async fn run(&self) -> RunReport {
        let mut report = RunReport::default();
        loop {
            let mut progress = false;
            for (queue, consumer) in self.queues.consumed() {
                // The consumers' side of the queue behind the fault switch too.
                let queue = FaultyQueue {
                    inner: queue.clone(),
                    faults: self.faults.clone(),
                };
                let Ok(records) = queue.receive(10).await else {
                    continue;
                };
                if records.is_empty() {
                    continue;
                }
                let _turn = Turn::start(&self.turns);
                let mut event = SqsEvent::default();
                event.records = records.clone();
                let response = match consumer {
                    Consumer::Bot => bot_reply::handle(event, &self.bot).await,
                    Consumer::Survey => survey::handle(event, &self.survey).await,
                    Consumer::SurveyOnClose => {
                        // Kept for the tests' look at why conversations closed.
                        self.closed_log
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend(records.iter().filter_map(|r| {
                                serde_json::from_str(r.body.as_deref().unwrap_or_default()).ok()
                            }));
                        survey::handle(event, &self.survey).await
                    }
                };
                for record in &records {
                    let id = record.message_id.as_deref().unwrap_or_default();
                    let handle = record.receipt_handle.as_deref().unwrap_or_default();
                    if response
                        .batch_item_failures
                        .iter()
                        .any(|f| f.item_identifier == id)
                    {
                        report.failed += 1;
                        let receives = record
                            .attributes
                            .get("ApproximateReceiveCount")
                            .and_then(|n| n.parse::<u32>().ok())
                            .unwrap_or(0);
                        if receives >= self.max_receives.load(Ordering::Relaxed)
                            && self.dead_letter(record).await
                        {
                            report.dead_lettered += 1;
                            let _ = queue.acknowledge(handle).await;
                        } else {
                            let _ = queue.release(handle).await;
                        }
                    } else {
                        report.handled += 1;
                        progress = true;
                        let _ = queue.acknowledge(handle).await;
                    }
                }
            }
            if !progress {
                if let Err(e) = self.report_sent().await {
                    tracing::error!(error = %e, "simulated statuses not posted");
                }
                if let Err(e) = self.export_stats().await {
                    tracing::error!(error = %e, "statistics export failed; retried next run");
                }
                return report;
            }
        }
    }

    /// Every queue's visibility timeout ([`QUEUE_VISIBILITY`] unless changed): the load
    /// generator shortens it so a failed deletion's message comes back within its run.
    pub fn set_queue_visibility(&self, visibility: std::time::Duration) {
        for queue in self.queues.all() {
            queue.set_visibility(visibility);
        }
    }

    /// Moves a message that failed too often to the dead-letter queue (its body: keys and
    /// facts, no personal data); false if that failed too (then it is tried again).
    async fn dead_letter(&self, record: &aws_lambda_events::event::sqs::SqsMessage) -> bool {
        let source = record.event_source_arn.as_deref().unwrap_or_default();
        tracing::error!(
            queue = source.rsplit(':').next().unwrap_or_default(),
            message_id = record.message_id.as_deref().unwrap_or_default(),
            "message failed {} times: moved to the dead-letter queue",
            self.max_receives.load(Ordering::Relaxed)
        );
        let body = record.body.clone().unwrap_or_default();
        self.queues
            .dead_letters
            .send(servicekanal_shared::ports::queue::OutgoingMessage::standard(body))
            .await
            .is_ok()
    }

    /// How often a message is received before it goes to the dead-letter queue
    /// ([`MAX_RECEIVES`] unless changed): the load generator tries forever, so its counts can
    /// be exact with faults far more frequent than AWS's.
    pub fn set_max_receives(&self, receives: u32) {
        self.max_receives.store(receives, Ordering::Relaxed);
    }

    /// Messages waiting in the consumers' queues (visible, delayed or in flight).
    pub fn queued(&self) -> usize {
        self.consumed_queues().map(|q| q.depth()).sum()
    }

    /// Messages a consumer could take now (not timers still waiting, not turns under way).
    pub fn due(&self) -> usize {
        self.consumed_queues().map(|q| q.due()).sum()
    }

    fn consumed_queues(&self) -> impl Iterator<Item = &Arc<InProcessQueue>> {
        self.queues.consumed().into_iter().map(|(queue, _)| queue)
    }

    /// WhatsApp reports every message it took with a `sent` status and its pricing; the local
    /// stack posts that status through the webhook for each new outbox entry, as WhatsApp
    /// would: free-form replies in the customer-service window are free `service` messages,
    /// templates billed `utility` messages.
    async fn report_sent(&self) -> Result<()> {
        if !self.simulate_statuses {
            return Ok(());
        }
        // Held while posting: one consumer reports, and a status that could not be posted
        // (the fault switch) is posted by the next run, not skipped.
        let mut reported = self.statuses_reported.lock().await;
        let sent = self.outbox.sent();
        for entry in sent.iter().skip(*reported) {
            let (category, kind) = match entry.content {
                servicekanal_shared::channels::whatsapp::OutboundContent::Template { .. } => {
                    ("utility", "regular")
                }
                _ => ("service", "free_customer_service"),
            };
            let pricing = WaPricing {
                billable: Some(kind == "regular"),
                pricing_model: Some("PMP".into()),
                category: Some(category.into()),
                kind: Some(kind.into()),
            };
            let payload = WebhookPayload::status(
                LOCAL_PHONE_NUMBER_ID,
                &entry.wamid,
                "sent",
                &entry.to,
                entry.at,
                Some(pricing),
            );
            self.post_signed(&payload).await?;
            *reported += 1;
        }
        Ok(())
    }

    /// Every statistics table as the analyst would read it: `{table: {objects, rows}}`.
    pub async fn statistics(&self) -> Result<serde_json::Value> {
        let objects = &self.stats.objects;
        let keys = objects.list("").await?;
        let mut tables = serde_json::Map::new();
        for table in servicekanal_shared::stats::Table::ALL {
            let prefix = format!("{table}/");
            let mut rows = Vec::new();
            let mut count = 0;
            for key in keys.iter().filter(|k| k.starts_with(&prefix)) {
                count += 1;
                let bytes = objects.get(key).await?.context("object vanished")?;
                rows.extend(servicekanal_shared::stats::read_rows(bytes)?);
            }
            tables.insert(
                table.name().to_owned(),
                serde_json::json!({ "objects": count, "rows": rows }),
            );
        }
        Ok(serde_json::Value::Object(tables))
    }

    /// Runs the change feed's consumers over its new records, as the stream's event source
    /// mappings do: stats-export (batches of up to [`STATS_BATCH`]) and connect-records
    /// (Connect's contact records redacted when our items for them go).
    pub async fn export_stats(&self) -> Result<Vec<stats_export::Exported>> {
        let batches = {
            let position = self.stats_position.lock().await;
            self.export_stats_at(&position).await?
        };
        self.follow_changes(&self.connect_records_position, |records| {
            let ports = &self.connect_records;
            async move {
                let mut event = aws_lambda_events::event::dynamodb::Event::default();
                event.records = records;
                let done = connect_records::redact(&event, ports).await;
                Ok((done.handled, done.failed_at.is_some()))
            }
        })
        .await
        .context("Connect contact records")?;
        Ok(batches)
    }

    /// stats-export over the change feed's new records; the caller holds the position's lock.
    async fn export_stats_at(&self, position: &Path) -> Result<Vec<stats_export::Exported>> {
        let batches = std::sync::Mutex::new(Vec::new());
        self.follow_changes_at(position, |records| {
            let (stats, batches) = (&self.stats, &batches);
            async move {
                let exported = stats_export::export(&records, stats).await?;
                let step = (exported.records, exported.poison.is_some());
                batches
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(exported);
                Ok(step)
            }
        })
        .await
        .context("statistics export")?;
        Ok(batches.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    /// The statistics exported up to now, held still: the change feed position the export
    /// reached and every file with its bytes, read while no export runs (an export failing
    /// now and then, as with the fault switch, is tried again up to `tries` times).
    pub async fn statistics_snapshot(&self, tries: usize) -> Result<(u64, Vec<(String, Vec<u8>)>)> {
        let position_file = self.stats_position.lock().await;
        let mut failures = 0;
        while let Err(e) = self.export_stats_at(&position_file).await {
            failures += 1;
            anyhow::ensure!(
                failures < tries,
                "the statistics export keeps failing: {e:#}"
            );
        }
        let position = read_position(&position_file);
        let mut files = Vec::new();
        for key in self.stats.objects.list("").await? {
            let bytes = self
                .stats
                .objects
                .get(&key)
                .await?
                .context("object vanished")?;
            files.push((key, bytes));
        }
        Ok((position, files))
    }

    /// Feeds the change feed's records after the position saved in `position_file` to
    /// `step`, which says how many it handled and whether it stopped at a failure. The position
    /// moves past what was handled; a failure on the first record stops the loop with an error
    /// (the stream would retry it, then hand it to the on-failure queue).
    async fn follow_changes<F, Fut>(
        &self,
        position_file: &tokio::sync::Mutex<PathBuf>,
        step: F,
    ) -> Result<()>
    where
        F: FnMut(Vec<aws_lambda_events::event::dynamodb::EventRecord>) -> Fut,
        Fut: std::future::Future<Output = Result<(usize, bool)>>,
    {
        let position_file = position_file.lock().await;
        self.follow_changes_at(&position_file, step).await
    }

    /// [`LocalStack::follow_changes`] with the position's lock held by the caller.
    async fn follow_changes_at<F, Fut>(&self, position_file: &Path, mut step: F) -> Result<()>
    where
        F: FnMut(Vec<aws_lambda_events::event::dynamodb::EventRecord>) -> Fut,
        Fut: std::future::Future<Output = Result<(usize, bool)>>,
    {
        let mut position = read_position(position_file);
        loop {
            let mut feed = self.store.change_feed(Some(position));
            let records = feed.poll(STATS_BATCH).await?;
            if records.is_empty() {
                return Ok(());
            }
            let numbers: Vec<Option<String>> = records
                .iter()
                .map(|r| r.change.sequence_number.clone())
                .collect();
            let (handled, failed) = step(records).await?;
            if let Some(last) = handled.checked_sub(1).and_then(|i| numbers.get(i)) {
                position = last
                    .as_deref()
                    .and_then(|s| s.parse().ok())
                    .context("the change feed numbers its records")?;
                // Never half-written: a lost position would export its records again.
                replace_file(position_file, position.to_string())
                    .context("saving the change feed position")?;
            }
            if failed && handled == 0 {
                anyhow::bail!("a change record cannot be handled; see the error log");
            }
        }
    }

    /// Invokes voice-intake with any event it takes (Connect, Lex V2, sales actions), as
    /// Lambda would.
    pub async fn voice(&self, event: serde_json::Value) -> Result<serde_json::Value> {
        Ok(voice_intake::handle(event, &self.voice).await?)
    }

    /// A phone call to the voice assistant: the Connect contact flow's event, as Connect
    /// builds it from what the caller said.
    pub async fn call(&self, call: &Call) -> Result<serde_json::Value> {
        let contact_id = ulid::Ulid::new().to_string().to_lowercase();
        let mut parameters = serde_json::Map::new();
        for (name, value) in [
            ("name", &call.name),
            ("topic", &call.topic),
            ("window", &call.window),
            ("callback_number", &call.callback_number),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                parameters.insert(name.into(), v.into());
            }
        }
        let event = serde_json::json!({
            "Details": {
                "ContactData": {
                    "Attributes": {},
                    "Channel": "VOICE",
                    "ContactId": contact_id,
                    "CustomerEndpoint": {"Address": call.caller, "Type": "TELEPHONE_NUMBER"},
                    "InitialContactId": contact_id,
                    "InitiationMethod": "INBOUND",
                    "InstanceARN": "arn:aws:connect:local:000000000000:instance/local",
                    "SystemEndpoint": {"Address": "+4930123456789", "Type": "TELEPHONE_NUMBER"},
                },
                "Parameters": parameters,
            },
            "Name": "ContactFlowEvent",
        });
        self.voice(event).await
    }

    /// Takes what arrived on the agent desk's queue since the last look (and keeps it in the
    /// desk's log).
    pub async fn desk_events(&self) -> Result<Vec<DeskEvent>> {
        let new: Vec<DeskEvent> = drain(self.queues.handover.as_ref()).await?;
        self.desk_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(new.iter().cloned());
        Ok(new)
    }

    /// Everything the agent desk received so far, oldest first.
    pub async fn desk_log(&self) -> Result<Vec<DeskEvent>> {
        self.desk_events().await?;
        Ok(self
            .desk_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone())
    }

    /// A phone's chat: what the user sent and what the business sent, in order. The phone is
    /// named by its number, or by its user id if it shows none.
    pub fn phone(&self, address: &str) -> Vec<PhoneLine> {
        let mut lines: Vec<PhoneLine> = self
            .sent_by_users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(who, _)| who == address)
            .map(|(_, line)| line.clone())
            .collect();
        lines.extend(
            self.outbox
                .sent()
                .into_iter()
                .filter(|e| e.to.id() == address)
                .map(|e| PhoneLine {
                    at: e.at,
                    from: "business",
                    sent: None,
                    received: Some(e.content),
                }),
        );
        // Stable: a reply sent in the same instant stays after the message it answers.
        lines.sort_by_key(|l| l.at);
        lines
    }

    /// The identifiers stored for the contact these identifiers lead to, masked (`None` if no
    /// contact is known).
    pub async fn identity(&self, identifiers: &[Identifier]) -> Result<Option<StoredIdentity>> {
        let identities = Identities {
            store: self.store.as_ref(),
            pseudonymizer: &self.webhook.pseudonymizer,
        };
        for identifier in identifiers {
            let Some(contact) = identities.lookup(identifier).await? else {
                continue;
            };
            let Some(record) = self.store.get(&ItemKey::profile(&contact)).await? else {
                continue;
            };
            let profile: Contact = record.body()?;
            return Ok(Some(StoredIdentity {
                phone: profile.wa_id.as_deref().map(mask::phone),
                user_id: profile.user_id.as_deref().map(mask::user_id),
                username: profile.username.as_deref().map(mask::name),
                profile_name: profile.profile_name.as_deref().map(mask::name),
                reached_by: profile.recipient().map(|r| match r {
                    Recipient::Phone(_) => "phone",
                    Recipient::UserId(_) => "user-id",
                }),
            }));
        }
        Ok(None)
    }

    /// The conversation-closed events the survey consumed since the last look.
    pub async fn closed_events(
        &self,
    ) -> Result<Vec<servicekanal_shared::domain::messages::ConversationClosed>> {
        Ok(std::mem::take(
            &mut *self.closed_log.lock().unwrap_or_else(|e| e.into_inner()),
        ))
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// A change feed position saved in `file` (0 before the first).
fn read_position(file: &Path) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

async fn drain<T: serde::de::DeserializeOwned>(queue: &InProcessQueue) -> Result<Vec<T>> {
    let mut out = Vec::new();
    loop {
        let batch = queue.receive(10).await?;
        if batch.is_empty() {
            return Ok(out);
        }
        for message in batch {
            out.push(serde_json::from_str(
                message.body.as_deref().unwrap_or_default(),
            )?);
            queue
                .acknowledge(message.receipt_handle.as_deref().unwrap_or_default())
                .await?;
        }
    }
}
