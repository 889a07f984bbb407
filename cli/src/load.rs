//! `servicekanal load`: a load generator for the local stack. It starts the stack (`dev`) in
//! this process on 127.0.0.1, posts signed webhook messages from many simulated contacts over
//! real HTTP (some delivered twice, as WhatsApp retries), waits until every message was
//! answered, and reports accepted messages per second, the webhook's and the reply's
//! latencies, and whether every message was stored once and answered once. Figures:
//! docs/performance.md.

use crate::dev::DevServer;
use crate::stack::{LOCAL_APP_SECRET, LOCAL_PHONE_NUMBER_ID};
use anyhow::{Context, Result, ensure};
use servicekanal_shared::channels::whatsapp::payload::{
    SIGNATURE_HEADER, Sender, UserMessage, WebhookPayload, sign,
};
use servicekanal_shared::domain::{Direction, Message};
use servicekanal_shared::ports::clock::Clock;
use servicekanal_shared::ports::store::RecordKind;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
        }
    }
}

#[derive(Debug)]
pub struct LoadReport {
    pub messages: usize,
    pub duplicate_deliveries: usize,
    /// Every POST the webhook answered with 200 (duplicates included).
    pub accepted_posts: usize,
    /// From the first POST to the last POST's answer.
    pub posting: Duration,
    /// From the first POST until the last message was answered.
    pub until_all_answered: Duration,
    pub webhook_latency: Percentiles,
    pub reply_latency: Percentiles,
    pub stored_once: usize,
    /// Messages decided with replies, every reply sent once.
    pub answered_once: usize,
    /// Messages stored more than once or never answered, replies sent twice.
    pub anomalies: Vec<String>,
    /// Writes to the store (its change records), for the cost estimate.
    pub store_writes: usize,
    /// Lisa's replies sent (each gets WhatsApp's statuses on the webhook in AWS).
    pub replies: usize,
    pub statistics_files: usize,
    pub empty_statistics_files: usize,
    pub message_event_rows: usize,
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
            self.stored_once,
            self.answered_once,
            self.replies as f64 / self.messages.max(1) as f64,
            self.store_writes as f64 / self.messages.max(1) as f64,
            self.statistics_files,
            self.empty_statistics_files,
        )
    }
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
            ..bot_reply::BotConfig::default()
        },
    )?;
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
            let mut duplicates = 0;
            for i in 0..messages {
                let wamid = format!("wamid.load.{contact}.{i}");
                let message = UserMessage::Text {
                    body: TEXTS[(contact + i) % TEXTS.len()].to_owned(),
                };
                let payload = WebhookPayload::inbound(
                    LOCAL_PHONE_NUMBER_ID,
                    &sender,
                    &wamid,
                    server.clock.now(),
                    &message,
                );
                let body = serde_json::to_vec(&payload)?;
                let signature = sign(LOCAL_APP_SECRET.as_bytes(), &body);
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
                    let sent = Instant::now();
                    let response = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .header(SIGNATURE_HEADER, &signature)
                        .body(body.clone())
                        .send()
                        .await?;
                    latencies.push(sent.elapsed());
                    ensure!(
                        response.status().is_success(),
                        "the webhook answered {}",
                        response.status()
                    );
                }
                duplicates += deliveries - 1;
            }
            anyhow::Ok((latencies, duplicates))
        }));
    }
    let mut webhook_latencies = Vec::new();
    let mut duplicate_deliveries = 0;
    for client in clients {
        let (latencies, duplicates) = client.await??;
        webhook_latencies.extend(latencies);
        duplicate_deliveries += duplicates;
    }
    let posting = started.elapsed();
    let messages = options.contacts * options.messages_per_contact;

    // Every message answered, or the drain timeout.
    let deadline = Instant::now() + options.drain_timeout;
    loop {
        let answered = timeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .answered
            .len();
        if answered >= messages || Instant::now() > deadline {
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

    // What the store holds of them: each message once, each decided with its replies; and
    // each reply sent once (one outbox entry per stored outbound message).
    let mut stored: HashMap<String, usize> = HashMap::new();
    let mut answered: HashMap<String, bool> = HashMap::new();
    let mut stored_replies = std::collections::HashSet::new();
    for record in server.stack.store.readable_items()? {
        if record.kind != RecordKind::Message {
            continue;
        }
        let message: Message = record.body()?;
        match (message.direction, message.wamid) {
            (Direction::Inbound, Some(wamid)) => {
                *stored.entry(wamid.clone()).or_default() += 1;
                let handled = message
                    .handling
                    .is_some_and(|h| h.done && !h.replies.is_empty());
                answered.insert(wamid, handled);
            }
            (Direction::Outbound, Some(wamid)) => {
                stored_replies.insert(wamid);
            }
            _ => {}
        }
    }
    let mut anomalies = Vec::new();
    let sent = server.stack.outbox.sent();
    for entry in &sent {
        if !stored_replies.contains(&entry.wamid) {
            let twin = sent.iter().any(|other| {
                other.wamid != entry.wamid && other.to == entry.to && other.content == entry.content
            });
            anomalies.push(format!(
                "a reply sent but not recorded as sent{}",
                if twin {
                    " (its text went to the contact twice)"
                } else {
                    ""
                }
            ));
        }
    }
    let (mut stored_once, mut answered_once) = (0, 0);
    for wamid in timeline.posted.keys() {
        match stored.get(wamid).copied().unwrap_or(0) {
            1 => stored_once += 1,
            n => anomalies.push(format!("{wamid} stored {n} times")),
        }
        match answered.get(wamid) {
            Some(true) => answered_once += 1,
            _ => anomalies.push(format!("{wamid} not answered")),
        }
    }
    let mut store_writes = 0;
    let mut feed = server.stack.store.change_feed(None);
    loop {
        let batch = servicekanal_shared::ports::store::ChangeFeed::poll(&mut feed, 1000).await?;
        if batch.is_empty() {
            break;
        }
        store_writes += batch.len();
    }
    server.stack.export_stats().await?;
    let objects = &server.stack.stats.objects;
    let (mut statistics_files, mut empty_statistics_files, mut message_event_rows) = (0, 0, 0);
    for key in objects.list("").await? {
        statistics_files += 1;
        let bytes = objects.get(&key).await?.context("object vanished")?;
        let rows = servicekanal_shared::stats::read_rows(bytes)?.len();
        if rows == 0 {
            empty_statistics_files += 1;
        }
        if key.starts_with("message_events/") {
            message_event_rows += rows;
        }
    }
    Ok(LoadReport {
        messages,
        duplicate_deliveries,
        accepted_posts: webhook_latencies.len(),
        posting,
        until_all_answered,
        webhook_latency: Percentiles::of(webhook_latencies),
        reply_latency: Percentiles::of(reply_latencies),
        stored_once,
        answered_once,
        anomalies,
        store_writes,
        replies: sent.len(),
        statistics_files,
        empty_statistics_files,
        message_event_rows,
    })
}
