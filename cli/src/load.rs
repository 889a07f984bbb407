//! `servicekanal load`: a load generator for the local stack. It starts the stack (`dev`) in
//! this process on 127.0.0.1, posts signed webhook messages from many simulated contacts over
//! real HTTP (some delivered twice, as WhatsApp retries), waits until every message was
//! answered, and reports accepted messages per second, the webhook's and the reply's
//! latencies, and whether every message was stored once and answered once. Figures:
//! docs/performance.md.

use crate::dev::DevServer;
use crate::faults::{FaultCounts, FaultPlan, Faults};
use crate::stack::LocalStack;
use crate::stack::{LOCAL_APP_SECRET, LOCAL_PHONE_NUMBER_ID};
use anyhow::{Context, Result, ensure};
use serde::Serialize;
use servicekanal_shared::channels::whatsapp::payload::{
    SIGNATURE_HEADER, Sender, UserMessage, WebhookPayload, sign,
};
use servicekanal_shared::domain::keys::MESSAGE_PREFIX;
use servicekanal_shared::domain::{Direction, Message};
use servicekanal_shared::ports::clock::Clock;
use servicekanal_shared::ports::store::{ChangeFeed, RecordKind};
use servicekanal_shared::stats::{Rows, Table};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often one message is delivered before the load generator gives up on the webhook.
const MAX_DELIVERIES: usize = 100;

/// What customers write: questions Lisa answers herself (no handover, no sign-in).
const TEXTS: [&str; 5] = [
    "roaming aktivieren wie",
    "Was kostet telefonieren in der Schweiz?",
    "wie richte ich meine mailbox ein",
    "Wie viel Datenvolumen habe ich noch?",
    "Meine PIN ist gesperrt, was nun?",
];

#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Simulated WhatsApp contacts, each posting its messages one after the other.
    pub contacts: usize,
    pub messages_per_contact: usize,
    /// Share of messages WhatsApp delivers twice (0.0 to 1.0).
    pub duplicate_share: f64,
    /// How long to wait for the last answers after the last POST.
    pub drain_timeout: Duration,
    /// The stack's data folder (a fresh temporary one if `None`; removed afterwards).
    pub data_dir: Option<PathBuf>,
    /// How long Lisa waits for a follow-up text (`BURST_WINDOW_MS`; AWS default 2 s). Each
    /// waiting turn holds a consumer, so a load run measures the stack with 0 by default.
    pub burst_window: chrono::Duration,
    /// The fault switch's plan (none by default).
    pub faults: FaultPlan,
    /// The queues' visibility timeout: short, so that a message whose deletion failed comes
    /// back within the run (180 s in AWS), yet longer than the slowest turn: a message
    /// delivered again while its first turn still runs may have a reply sent twice, which
    /// AWS's 180 s against bot-reply's 30 s timeout rules out.
    pub visibility: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            contacts: 200,
            messages_per_contact: 10,
            duplicate_share: 0.1,
            drain_timeout: Duration::from_secs(120),
            data_dir: None,
            burst_window: chrono::Duration::zero(),
            faults: FaultPlan::default(),
            visibility: Duration::from_secs(10),
        }
    }
}

#[derive(Debug)]
pub struct LoadReport {
    pub messages: usize,
    pub duplicate_deliveries: usize,
    /// Every POST the webhook answered with 200 (duplicates included).
    pub accepted_posts: usize,
    /// POSTs answered with an error and sent again, as WhatsApp retries (faults only).
    pub webhook_retries: usize,
    /// From the first POST to the last POST's answer.
    pub posting: Duration,
    /// From the first POST until the last message was answered.
    pub until_all_answered: Duration,
    pub webhook_latency: Percentiles,
    pub reply_latency: Percentiles,
    /// What the store, the outbox and the statistics hold afterwards.
    pub audit: Audit,
    /// What the fault switch injected (nothing unless `faults` planned it).
    pub faults: FaultCounts,
}

/// What the stack holds after a run: each posted message stored once and answered once, each
/// reply sent once, each statistics row written once.
#[derive(Debug, Default, Serialize, serde::Deserialize)]
pub struct Audit {
    pub stored_once: usize,
    /// Messages decided with replies, every reply sent once.
    pub answered_once: usize,
    /// Replies WhatsApp took without the bot learning so (it sent them again): allowed up to
    /// the fault switch's `graph.accepted_then_lost` (after a crash: those WhatsApp had taken
    /// and the bot not yet noted when the process died).
    pub replies_sent_unrecorded: usize,
    /// Messages stored more than once or never answered, statistics rows missing or doubled.
    pub anomalies: Vec<String>,
    /// Writes to the store (its change records), for the cost estimate.
    pub store_writes: usize,
    /// Lisa's replies sent (each gets WhatsApp's statuses on the webhook in AWS).
    pub replies: usize,
    pub statistics_files: usize,
    pub empty_statistics_files: usize,
    /// Rows per statistics table, as the Parquet files hold them (deletions: items counted).
    pub statistics_rows: std::collections::BTreeMap<String, usize>,
}

impl Audit {
    pub fn message_event_rows(&self) -> usize {
        self.statistics_rows
            .get(Table::MessageEvents.name())
            .copied()
            .unwrap_or_default()
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Percentiles {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Percentiles {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |q: f64| {
            samples
                .get(((samples.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        Self {
            p50: at(0.5),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

impl LoadReport {
    pub fn accepted_per_second(&self) -> f64 {
        self.accepted_posts as f64 / self.posting.as_secs_f64()
    }

    pub fn answered_per_second(&self) -> f64 {
        self.messages as f64 / self.until_all_answered.as_secs_f64()
    }

    pub fn markdown(&self) -> String {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        format!(
            "| messages (+ duplicate deliveries) | accepted POSTs/s | webhook p50 / p99 / max | \
             answered/s | reply p50 / p99 | stored once | answered once | replies / store writes per message | statistics files (empty) |\n\
             |---|---|---|---|---|---|---|---|---|\n\
             | {} (+{}) | {:.0} | {} / {} / {} | {:.0} | {} / {} | {} | {} | {:.2} / {:.1} | {} ({}) |\n",
            self.messages,
            self.duplicate_deliveries,
            self.accepted_per_second(),
            ms(self.webhook_latency.p50),
            ms(self.webhook_latency.p99),
            ms(self.webhook_latency.max),
            self.answered_per_second(),
            ms(self.reply_latency.p50),
            ms(self.reply_latency.p99),
            self.audit.stored_once,
            self.audit.answered_once,
            self.audit.replies as f64 / self.messages.max(1) as f64,
            self.audit.store_writes as f64 / self.messages.max(1) as f64,
            self.audit.statistics_files,
            self.audit.empty_statistics_files,
        ) + &self.faults_markdown()
    }
}

impl LoadReport {
    /// Whether the run kept every promise: nothing lost, nothing doubled beyond the documented
    /// window, no empty statistics file.
    pub fn holds(&self) -> bool {
        self.audit.anomalies.is_empty()
            && self.audit.empty_statistics_files == 0
            && self.audit.replies_sent_unrecorded as u64 <= self.faults.replies_at_risk()
    }

    fn faults_markdown(&self) -> String {
        if self.faults.total() == 0 {
            return String::new();
        }
        let injected: Vec<String> = self
            .faults
            .injected
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        format!(
            "\nInjected faults: {} ({}); webhook POSTs retried: {}; replies WhatsApp took \
             twice (the documented window): {} of {} at risk.\n",
            self.faults.total(),
            injected.join(", "),
            self.webhook_retries,
            self.audit.replies_sent_unrecorded,
            self.faults.replies_at_risk(),
        )
    }
}

/// What the stack holds of the `posted` WhatsApp message ids (see [`Audit`]). Exports the
/// statistics first (retried while the fault switch fails uploads).
pub async fn audit(stack: &LocalStack, posted: &[String]) -> Result<Audit> {
    let mut audit = messages_audit(stack, posted)?;
    audit_statistics(stack, &mut audit).await?;
    Ok(audit)
}

/// The messages' part of [`audit`], reading only: what the store and the outbox hold (the
/// statistics counts stay empty). After a crash it tells which replies WhatsApp took that
/// the bot had not yet noted.
pub fn messages_audit(stack: &LocalStack, posted: &[String]) -> Result<Audit> {
    let mut audit = Audit::default();
    // What the store holds of them: each message once, each decided with its replies; and
    // each reply sent once (one outbox entry per stored outbound message).
    let mut stored: HashMap<String, usize> = HashMap::new();
    // Per inbound message: its partition and the replies decided for it, once done.
    let mut answered: HashMap<String, Option<(String, Vec<ulid::Ulid>)>> = HashMap::new();
    // Outbound messages by (partition, sort key): the WhatsApp id they went out as.
    let mut outbound: HashMap<(String, String), Option<String>> = HashMap::new();
    for record in stack.store.readable_items()? {
        if record.kind != RecordKind::Message {
            continue;
        }
        let message: Message = record.body()?;
        match message.direction {
            Direction::Inbound => {
                let Some(wamid) = message.wamid else { continue };
                *stored.entry(wamid.clone()).or_default() += 1;
                let decided = message
                    .handling
                    .filter(|h| h.done && !h.replies.is_empty())
                    .map(|h| (record.key.pk.clone(), h.replies));
                answered.insert(wamid, decided);
            }
            Direction::Outbound => {
                outbound.insert(
                    (record.key.pk.clone(), record.key.sk.clone()),
                    message.wamid,
                );
            }
            Direction::Internal => {}
        }
    }
    let stored_replies: std::collections::HashSet<&String> = outbound.values().flatten().collect();
    let sent = stack.outbox.sent();
    let delivered: std::collections::HashSet<&String> = sent.iter().map(|e| &e.wamid).collect();
    audit.replies = sent.len();
    audit.replies_sent_unrecorded = sent
        .iter()
        .filter(|entry| !stored_replies.contains(&entry.wamid))
        .count();
    for wamid in posted {
        match stored.get(wamid).copied().unwrap_or(0) {
            1 => audit.stored_once += 1,
            n => audit.anomalies.push(format!("{wamid} stored {n} times")),
        }
        let Some(Some((partition, replies))) = answered.get(wamid) else {
            audit.anomalies.push(format!("{wamid} not answered"));
            continue;
        };
        // Every reply decided for it went out: noted with the id WhatsApp gave it, and in
        // what WhatsApp received.
        let unsent = replies
            .iter()
            .filter(|id| {
                let key = (partition.clone(), format!("{MESSAGE_PREFIX}{id}"));
                !outbound
                    .get(&key)
                    .and_then(Option::as_ref)
                    .is_some_and(|sent_as| delivered.contains(sent_as))
            })
            .count();
        if unsent == 0 {
            audit.answered_once += 1;
        } else {
            audit.anomalies.push(format!(
                "{wamid}: {unsent} of its replies never reached WhatsApp"
            ));
        }
    }
    Ok(audit)
}

/// Every statistics row once: the rows the change feed makes up to where the export stands,
/// against the files written up to there (held still while they are read).
async fn audit_statistics(stack: &LocalStack, audit: &mut Audit) -> Result<()> {
    let (position, files) = stack.statistics_snapshot(100).await?;
    let mut expected = Rows::default();
    let mut feed = stack.store.change_feed(None);
    loop {
        let batch = ChangeFeed::poll(&mut feed, 1000).await?;
        if batch.is_empty() {
            break;
        }
        audit.store_writes += batch.len();
        for record in &batch {
            let sequence = record.change.sequence_number.as_deref();
            if sequence.and_then(|s| s.parse::<u64>().ok()) <= Some(position) {
                // Records that are not ours are skipped by the export too.
                let _ = expected.add(record);
            }
        }
    }
    for (key, bytes) in files {
        audit.statistics_files += 1;
        let rows = servicekanal_shared::stats::read_rows(bytes)
            .with_context(|| format!("statistics file {key} is unreadable"))?;
        if rows.is_empty() {
            audit.empty_statistics_files += 1;
        }
        let table = key.split('/').next().unwrap_or_default().to_owned();
        let count = if table == Table::Deletions.name() {
            rows.iter()
                .filter_map(|r| r.get("items").and_then(serde_json::Value::as_u64))
                .sum::<u64>() as usize
        } else {
            rows.len()
        };
        *audit.statistics_rows.entry(table).or_default() += count;
    }
    let mut want = expected.counts();
    want.insert(
        Table::Deletions,
        expected.deletions().iter().map(|d| d.items as usize).sum(),
    );
    for (table, rows) in want {
        let written = audit
            .statistics_rows
            .get(table.name())
            .copied()
            .unwrap_or_default();
        if written != rows {
            audit.anomalies.push(format!(
                "statistics table {table}: {written} rows written, the change feed makes {rows}"
            ));
        }
    }
    Ok(())
}

/// A webhook POST's body with one user message, and its signature with the local app secret.
pub fn signed_message(
    sender: &Sender,
    wamid: &str,
    message: &UserMessage,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<u8>, String)> {
    let payload = WebhookPayload::inbound(LOCAL_PHONE_NUMBER_ID, sender, wamid, at, message);
    let body = serde_json::to_vec(&payload)?;
    let signature = sign(LOCAL_APP_SECRET.as_bytes(), &body);
    Ok((body, signature))
}

/// When each message was posted and when it was first marked read (Lisa's turn for it sends
/// its replies right after).
#[derive(Default)]
struct Timeline {
    posted: HashMap<String, Instant>,
    answered: HashMap<String, Instant>,
}

pub async fn run(options: LoadOptions) -> Result<LoadReport> {
    let temporary = options.data_dir.is_none();
    let data_dir = options.data_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("servicekanal-load-{}", ulid::Ulid::new()))
    });
    let result = drive(&options, &data_dir).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    result
}

async fn drive(options: &LoadOptions, data_dir: &std::path::Path) -> Result<LoadReport> {
    let server = DevServer::open_configured(
        data_dir,
        bot_reply::BotConfig {
            burst_window: options.burst_window,
            // Simulated contacts write faster than people: each message must get its
            // answer here. Lisa's limit per contact is tested in bot-reply (tests/abuse.rs).
            rate_limit_messages: u32::MAX,
            ..bot_reply::BotConfig::default()
        },
        Faults::new(options.faults.clone()),
    )?;
    server.stack.set_queue_visibility(options.visibility);
    server.stack.set_max_receives(u32::MAX);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}/webhook", listener.local_addr()?);
    tokio::spawn(server.clone().serve(listener));

    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (server, timeline, watching) = (server.clone(), timeline.clone(), watching.clone());
        tokio::spawn(async move {
            let mut seen = 0;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                let new = server.stack.outbox.read_marks_from(seen);
                seen += new.len();
                let now = Instant::now();
                {
                    let mut timeline = timeline.lock().unwrap_or_else(|e| e.into_inner());
                    for (wamid, _) in new {
                        timeline.answered.entry(wamid).or_insert(now);
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };

    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut clients = Vec::new();
    for contact in 0..options.contacts {
        let (http, url, timeline, server) =
            (http.clone(), url.clone(), timeline.clone(), server.clone());
        let (messages, duplicate_share) = (options.messages_per_contact, options.duplicate_share);
        clients.push(tokio::spawn(async move {
            let sender = Sender::phone(&format!("4915{:09}", contact), Some("Last Test"));
            let mut latencies = Vec::new();
            let (mut duplicates, mut retries) = (0, 0);
            for i in 0..messages {
                let wamid = format!("wamid.load.{contact}.{i}");
                let message = UserMessage::Text {
                    body: TEXTS[(contact + i) % TEXTS.len()].to_owned(),
                };
                let (body, signature) =
                    signed_message(&sender, &wamid, &message, server.clock.now())?;
                // Spread the duplicates evenly over contacts and messages.
                let twice = ((contact * messages + i) as f64 * duplicate_share).fract()
                    + duplicate_share
                    >= 1.0;
                let deliveries = if twice { 2 } else { 1 };
                timeline
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .posted
                    .insert(wamid.clone(), Instant::now());
                for _ in 0..deliveries {
                    // An error answer is delivered again, as WhatsApp retries (faults only).
                    let mut attempts = 0;
                    loop {
                        let sent = Instant::now();
                        let response = http
                            .post(&url)
                            .header("content-type", "application/json")
                            .header(SIGNATURE_HEADER, &signature)
                            .body(body.clone())
                            .send()
                            .await?;
                        latencies.push(sent.elapsed());
                        if response.status().is_success() {
                            break;
                        }
                        attempts += 1;
                        retries += 1;
                        ensure!(
                            attempts < MAX_DELIVERIES,
                            "the webhook answered {} {MAX_DELIVERIES} times",
                            response.status()
                        );
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                duplicates += deliveries - 1;
            }
            anyhow::Ok((latencies, duplicates, retries))
        }));
    }
    let mut webhook_latencies = Vec::new();
    let (mut duplicate_deliveries, mut webhook_retries) = (0, 0);
    for client in clients {
        let (latencies, duplicates, retries) = client.await??;
        webhook_latencies.extend(latencies);
        duplicate_deliveries += duplicates;
        webhook_retries += retries;
    }
    let posting = started.elapsed();
    let messages = options.contacts * options.messages_per_contact;

    // Every message answered (its read mark) and none left queued, or the drain timeout. A
    // failed read mark (the fault switch) never shows: then the inbound queue staying empty
    // for a second, with no new read marks, ends the wait; the audit checks the answers.
    let deadline = Instant::now() + options.drain_timeout;
    let (mut last_seen, mut quiet_since) = ((usize::MAX, usize::MAX), Instant::now());
    loop {
        let answered = timeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .answered
            .len();
        let queued = server.stack.queues.inbound.depth();
        if (answered, queued) != last_seen {
            (last_seen, quiet_since) = ((answered, queued), Instant::now());
        }
        let quiet = queued == 0 && quiet_since.elapsed() > Duration::from_secs(1);
        if (answered >= messages && queued == 0) || quiet || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Late duplicates of answers would show in the read marks: give them a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    watcher.await?;
    let timeline = std::mem::take(&mut *timeline.lock().unwrap_or_else(|e| e.into_inner()));
    let until_all_answered = timeline
        .answered
        .values()
        .max()
        .map_or(Duration::ZERO, |last| last.duration_since(started));
    let reply_latencies = timeline
        .answered
        .iter()
        .filter_map(|(wamid, at)| Some(at.duration_since(*timeline.posted.get(wamid)?)))
        .collect();

    let posted: Vec<String> = timeline.posted.keys().cloned().collect();
    let audit = audit(&server.stack, &posted).await?;
    Ok(LoadReport {
        messages,
        duplicate_deliveries,
        accepted_posts: webhook_latencies.len(),
        webhook_retries,
        posting,
        until_all_answered,
        webhook_latency: Percentiles::of(webhook_latencies),
        reply_latency: Percentiles::of(reply_latencies),
        audit,
        faults: server.stack.faults.counts(),
    })
}
