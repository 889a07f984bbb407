//! The WhatsApp webhook: verifies, parses, de-duplicates, stores, enqueues, answers fast.
//! It never calls WhatsApp itself; Lisa (`bot-reply`) reads the inbound queue.

use chrono::{DateTime, Utc};
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use servicekanal_shared::channels::whatsapp::payload::{
    BUSINESS_ACCOUNT_OBJECT, Readable, SIGNATURE_HEADER, USER_CHANGED_NUMBER, USER_CHANGED_USER_ID,
    WaContact, WaMessage, WebhookPayload, verify_signature,
};
use servicekanal_shared::domain::identity::{
    Identifier, Identities, IdentityError, set_identifier,
};
use servicekanal_shared::domain::keys::{ItemKey, Pseudonym, Pseudonymizer};
use servicekanal_shared::domain::messages::{self, BotWork, InboundNotice, StatusOutcome};
use servicekanal_shared::domain::{Contact, DeliveryMarker, Message, Pricing};
use servicekanal_shared::policy::mask::Secret;
use servicekanal_shared::policy::retention::{self, RetentionClass};
use servicekanal_shared::ports::clock::SharedClock;
use servicekanal_shared::ports::queue::{Queue, QueueError};
use servicekanal_shared::ports::store::{Record, Store, StoreError, Stored, Write};
use servicekanal_shared::runtime::{Env, StartupError, env};
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{Instrument, trace_span};

/// The path the webhook is served at (function URL, HTTP API and local stack alike).
pub const WEBHOOK_PATH: &str = "/webhook";
/// Bodies above this are refused with 413. WhatsApp's payloads reach a few MB at most.
pub const DEFAULT_MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

pub struct WebhookConfig {
    pub app_secret: Secret<String>,
    pub verify_token: Secret<String>,
    pub max_body_bytes: usize,
}

/// What the function reads from its environment at cold start (template.yaml sets it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub table_name: String,
    pub secrets_arn: String,
    pub inbound_queue_url: String,
}

impl Environment {
    pub fn read(env: &Env) -> Result<Self, StartupError> {
        Ok(Self {
            table_name: env.required(env::TABLE_NAME)?,
            secrets_arn: env.required(env::SECRETS_ARN)?,
            inbound_queue_url: env.required(env::INBOUND_QUEUE_URL)?,
        })
    }
}

/// Everything the handler needs, built once per cold start.
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub inbound_queue: Arc<dyn Queue>,
    pub clock: SharedClock,
    pub pseudonymizer: Pseudonymizer,
    pub config: WebhookConfig,
}

/// Why a verified notification could not be processed (WhatsApp retries it: every step is
/// idempotent).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Identity(IdentityError),
}

impl From<IdentityError> for ProcessError {
    /// A store failure is a store failure, wherever it happened (a legal hold among them).
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Store(e) => ProcessError::Store(e),
            other => ProcessError::Identity(other),
        }
    }
}

/// What one POST amounted to (counts only, for the log line and the tests).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub stored: u32,
    pub duplicates: u32,
    pub statuses_applied: u32,
    pub statuses_ignored: u32,
    pub errors_reported: u32,
    /// Identity changes applied (`user_changed_number`, `user_changed_user_id`).
    pub identities_changed: u32,
    pub skipped: u32,
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(body.to_owned()))
        .expect("static response parts are valid")
}

/// The Lambda handler: one HTTP request in, one response out. Never fails; failures that
/// WhatsApp should retry answer 500.
pub async fn handle(request: Request, ports: &Ports) -> Response<Body> {
    let path = request.uri().path().trim_end_matches('/');
    if path != WEBHOOK_PATH {
        return text(StatusCode::NOT_FOUND, "not found");
    }
    match *request.method() {
        Method::GET => verify_subscription(&request, ports),
        Method::POST => receive(request, ports).await,
        _ => {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
            response
        }
    }
}

fn verify_subscription(request: &Request, ports: &Ports) -> Response<Body> {
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let token_matches = query
        .get("hub.verify_token")
        .is_some_and(|token| ports.config.verify_token.matches(token));
    match (
        query.get("hub.mode").map(String::as_str),
        query.get("hub.challenge"),
    ) {
        (Some("subscribe"), Some(challenge)) if token_matches => text(StatusCode::OK, challenge),
        _ => {
            tracing::warn!("webhook verification refused");
            text(StatusCode::FORBIDDEN, "forbidden")
        }
    }
}

async fn receive(request: Request, ports: &Ports) -> Response<Body> {
    let body: &[u8] = request.body().as_ref();
    let payload_bytes = body.len();
    if payload_bytes > ports.config.max_body_bytes {
        // Only the size: the payload itself is never logged.
        tracing::warn!(payload_bytes, "webhook payload too large");
        return text(StatusCode::PAYLOAD_TOO_LARGE, "payload too large");
    }
    let signature = request
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    // The steps a request takes are `trace` spans: off in the functions, timed by the
    // request benchmark (docs/performance.md).
    let verified = trace_span!("verify signature").in_scope(|| {
        verify_signature(ports.config.app_secret.expose().as_bytes(), body, signature)
    });
    if let Err(e) = verified {
        tracing::warn!(reason = %e, "webhook signature refused");
        return text(StatusCode::UNAUTHORIZED, "invalid signature");
    }
    let parsed = trace_span!("parse payload").in_scope(|| serde_json::from_slice(body));
    let payload: WebhookPayload = match parsed {
        Ok(p) => p,
        Err(e) => {
            // Signed by WhatsApp but unreadable: a retry would not help, so acknowledge.
            tracing::warn!(
                rejected_payloads = 1,
                payload_bytes,
                line = e.line(),
                column = e.column(),
                "webhook payload rejected: not a WhatsApp notification"
            );
            return text(StatusCode::OK, "rejected");
        }
    };
    match process(&payload, ports).await {
        Ok(summary) => {
            tracing::info!(
                stored = summary.stored,
                duplicates = summary.duplicates,
                statuses_applied = summary.statuses_applied,
                statuses_ignored = summary.statuses_ignored,
                errors_reported = summary.errors_reported,
                identities_changed = summary.identities_changed,
                skipped = summary.skipped,
                "webhook processed"
            );
            text(StatusCode::OK, "ok")
        }
        Err(e) => {
            // WhatsApp retries; every step below is idempotent, so the retry finishes the work.
            tracing::error!(error = %e, "webhook processing failed; WhatsApp will retry");
            text(StatusCode::INTERNAL_SERVER_ERROR, "temporarily unavailable")
        }
    }
}

/// Handles every entry and change of a verified payload.
pub async fn process(payload: &WebhookPayload, ports: &Ports) -> Result<Summary, ProcessError> {
    let mut summary = Summary::default();
    if payload.object != BUSINESS_ACCOUNT_OBJECT {
        summary.skipped += 1;
        return Ok(summary);
    }
    for change in payload.entry.iter().flat_map(|e| &e.changes) {
        if change.field != "messages" {
            summary.skipped += 1;
            continue;
        }
        let value = &change.value;
        let contacts: Vec<&WaContact> = value.contacts.iter().filter_map(Readable::ok).collect();
        for message in &value.messages {
            // One unreadable message never takes the others of the same POST with it.
            let Readable::Ok(message) = message else {
                tracing::warn!("unreadable message in a notification skipped");
                summary.skipped += 1;
                continue;
            };
            let sender = SenderIdentity::of(message, &contacts);
            let outcome = if message.kind == "system" && sender.change.is_some() {
                change_identity(message, &sender, ports).await
            } else {
                store_inbound(message, &sender, ports).await
            };
            match outcome {
                Ok(Inbound::Stored) => summary.stored += 1,
                Ok(Inbound::Duplicate) => summary.duplicates += 1,
                Ok(Inbound::IdentityChanged) => summary.identities_changed += 1,
                Ok(Inbound::Skipped) => summary.skipped += 1,
                // The contact's data is under legal hold: blocked from any use, so the message
                // is neither stored with it nor answered.
                Err(ProcessError::Store(StoreError::Held(_))) => {
                    tracing::warn!("message of a contact under legal hold not processed");
                    summary.skipped += 1;
                }
                Err(e) => return Err(e),
            }
        }
        for status in &value.statuses {
            let Readable::Ok(status) = status else {
                tracing::warn!("unreadable status in a notification skipped");
                summary.statuses_ignored += 1;
                continue;
            };
            let Some(delivery) = messages::parse_status(&status.status) else {
                summary.statuses_ignored += 1;
                continue;
            };
            let code = status.errors.first().map(|e| e.code);
            if let Some(code) = code {
                tracing::warn!(code, status = %status.status, "outbound message failed");
            }
            let pricing = status.pricing.as_ref().map(|p| Pricing {
                category: p.category.clone(),
                kind: p.kind.clone(),
            });
            let outcome = messages::apply_status(
                ports.store.as_ref(),
                &ports.pseudonymizer,
                &status.id,
                delivery,
                code,
                pricing.as_ref(),
            )
            .await?;
            match outcome {
                StatusOutcome::Updated => summary.statuses_applied += 1,
                StatusOutcome::Stale | StatusOutcome::Unknown => summary.statuses_ignored += 1,
            }
        }
        for error in &value.errors {
            // Error codes and titles are the API's words, never personal data.
            tracing::warn!(
                code = error.code,
                title = error.title.as_deref().unwrap_or(""),
                "WhatsApp reported an error"
            );
            summary.errors_reported += 1;
        }
    }
    Ok(summary)
}

enum Inbound {
    Stored,
    Duplicate,
    IdentityChanged,
    Skipped,
}

/// Who sent a message, from the message and its `contacts` entry: phone number and user id
/// where given (either may be absent), username and profile name; and for an identity-change
/// system message, the new identifiers.
#[derive(Debug, Default)]
struct SenderIdentity {
    phone: Option<Identifier>,
    user_id: Option<Identifier>,
    parent_user_id: Option<String>,
    username: Option<String>,
    profile_name: Option<String>,
    /// `user_changed_number` / `user_changed_user_id`: the new phone number and user id, and
    /// the previous user id.
    change: Option<IdentityChange>,
}

#[derive(Debug, Default)]
struct IdentityChange {
    new_phone: Option<Identifier>,
    new_user_id: Option<Identifier>,
    previous_user_id: Option<Identifier>,
}

impl SenderIdentity {
    fn of(message: &WaMessage, contacts: &[&WaContact]) -> Self {
        let contact = contacts
            .iter()
            .find(|c| {
                (message.from.is_some() && c.wa_id == message.from)
                    || (message.from_user_id.is_some() && c.user_id == message.from_user_id)
            })
            .or(if contacts.len() == 1 {
                contacts.first()
            } else {
                None
            });
        let phone = message
            .from
            .as_deref()
            .or(contact.and_then(|c| c.wa_id.as_deref()));
        let user_id = message
            .from_user_id
            .as_deref()
            .or(contact.and_then(|c| c.user_id.as_deref()));
        let profile = contact.and_then(|c| c.profile.as_ref());
        let change = message.system.as_ref().and_then(|system| {
            let kind = system.kind.as_str();
            (kind == USER_CHANGED_NUMBER || kind == USER_CHANGED_USER_ID).then(|| IdentityChange {
                new_phone: system
                    .wa_id
                    .as_deref()
                    .or(system.new_wa_id.as_deref())
                    .filter(|_| kind == USER_CHANGED_NUMBER)
                    .and_then(readable(Identifier::phone)),
                new_user_id: system
                    .user_id
                    .as_deref()
                    .and_then(readable(Identifier::user_id)),
                previous_user_id: system
                    .previous_user_id
                    .as_deref()
                    .and_then(readable(Identifier::user_id)),
            })
        });
        Self {
            phone: phone.and_then(readable(Identifier::phone)),
            user_id: user_id.and_then(readable(Identifier::user_id)),
            parent_user_id: contact.and_then(|c| c.parent_user_id.clone()),
            username: profile.and_then(|p| p.username.clone()),
            profile_name: profile.and_then(|p| p.name.clone()),
            change,
        }
    }

    /// Phone number first: a new contact's id derives from it, as before user ids existed.
    fn identifiers(&self) -> Vec<Identifier> {
        self.phone.iter().chain(&self.user_id).cloned().collect()
    }
}

/// An identifier parser that drops (and counts in the log) what is not an identifier.
fn readable<E>(
    parse: impl Fn(&str) -> Result<Identifier, E>,
) -> impl Fn(&str) -> Option<Identifier> {
    move |raw| {
        let parsed = parse(raw).ok();
        if parsed.is_none() {
            tracing::warn!("unusable sender identifier ignored");
        }
        parsed
    }
}

/// When the customer wrote: WhatsApp's timestamp, never later than now. Deadlines count from
/// it, so a message dated in the future (a clock off, or a forged but signed payload) must not
/// keep itself, or its contact, stored longer than promised.
fn message_time(message: &WaMessage, now: DateTime<Utc>) -> DateTime<Utc> {
    message
        .timestamp
        .parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map_or(now, |at| at.min(now))
}

/// Stores a new inbound message and queues it for Lisa, exactly once per WhatsApp id.
///
/// The delivery marker is written with the message, in one commit (in AWS, requests in flight
/// together). A redelivery that finds it, once Lisa has taken the message, is acknowledged
/// after two reads and writes nothing. Before that, it does the delivery's work again: every
/// step is idempotent (deterministic keys, conditional creates, FIFO deduplication by
/// WhatsApp id, and Lisa answering a message once however often it is queued), so a delivery
/// interrupted anywhere is finished by WhatsApp's retry.
async fn store_inbound(
    message: &WaMessage,
    sender: &SenderIdentity,
    ports: &Ports,
) -> Result<Inbound, ProcessError> {
    let now = ports.clock.now();
    let identifiers = sender.identifiers();
    if identifiers.is_empty() || message.id.is_empty() {
        tracing::warn!("inbound message without a usable sender id skipped");
        return Ok(Inbound::Skipped);
    }
    let (marker_key, marked) = async {
        let key = ports.pseudonymizer.delivery_marker(&message.id);
        let marked = ports.store.load::<DeliveryMarker>(&key).await?;
        Ok::<_, StoreError>((key, marked))
    }
    .instrument(trace_span!("read delivery marker"))
    .await?;
    // A marker is written with its message, before the notice goes out: while Lisa has not
    // taken the message, the first delivery may have stopped after its writes. Everything is
    // done again (each step idempotent, the marker kept), the message's create too if it is
    // missing.
    let mut stored_message = None;
    if let Some(marker) = &marked {
        if marker.body.queued {
            return Ok(Inbound::Duplicate);
        }
        let stored = ports.store.load::<Message>(&marker.body.message);
        match stored
            .instrument(trace_span!("read stored message"))
            .await?
        {
            Some(stored) if stored.body.handling.is_some() => return Ok(Inbound::Duplicate),
            Some(stored) => stored_message = Some((&marker.body.message, stored.retention())),
            None => {}
        }
    }
    let at = message_time(message, now);
    let identities = identities(ports);
    let established = identities
        .establish(&identifiers, at)
        .instrument(trace_span!("read identity link"))
        .await?;
    let contact = established.contact.clone();
    let message_id = messages::message_id_for(&message.id, at);
    let message_key = ItemKey::message(&contact, message_id);

    let stored = Message::inbound(
        message_id,
        message.id.clone(),
        message.message_type(),
        message.content(),
        at,
    );
    let marker = match marked {
        Some(_) => None,
        None => {
            let marker = DeliveryMarker {
                first_seen_at: now,
                message: message_key.clone(),
                queued: false,
            };
            Some(
                Record::new(marker_key, &marker, retention::INBOUND_MARKER, now)?
                    .owned_by(&contact),
            )
        }
    };
    let message_write = MessageWrite {
        key: &message_key,
        message: &stored,
        // Under the key this delivery derives (the contact's may have changed meanwhile).
        stored: stored_message
            .filter(|(key, _)| *key == &message_key)
            .map(|(_, class)| class),
    };
    let profile =
        store_with_profile(&contact, sender, at, message_write, marker.as_ref(), ports).await?;
    identities
        .follow_profile(&established.links, profile.class, profile.deadline)
        .instrument(trace_span!("follow profile with links"))
        .await?;

    // A repeat is dropped by the FIFO queue within its deduplication window and answered once
    // by Lisa after it.
    let notice = BotWork::Inbound(InboundNotice {
        message: message_key,
        received_at: now,
    });
    async { ports.inbound_queue.send(notice.to_queue_message(now)).await }
        .instrument(trace_span!("queue notice"))
        .await?;
    Ok(match profile.stored_before {
        true => Inbound::Duplicate,
        false => Inbound::Stored,
    })
}

fn identities(ports: &Ports) -> Identities<'_> {
    Identities {
        store: ports.store.as_ref(),
        pseudonymizer: &ports.pseudonymizer,
    }
}

/// A `user_changed_number` or `user_changed_user_id` system message: the person's contact
/// (found by the old identifiers, or the new ones on a redelivery) keeps everything and is
/// reached by the new identifiers from now on; the old ones are stored nowhere any more. The
/// message itself (its body names the numbers) is not stored, and Lisa does not answer it.
async fn change_identity(
    message: &WaMessage,
    sender: &SenderIdentity,
    ports: &Ports,
) -> Result<Inbound, ProcessError> {
    let Some(change) = &sender.change else {
        return Ok(Inbound::Skipped);
    };
    let now = ports.clock.now();
    let at = message_time(message, now);
    let identities = identities(ports);
    let olds: Vec<&Identifier> = sender
        .phone
        .iter()
        .chain(&sender.user_id)
        .chain(&change.previous_user_id)
        .collect();
    let news: Vec<&Identifier> = change.new_phone.iter().chain(&change.new_user_id).collect();
    let mut contact = None;
    for identifier in olds.iter().chain(&news) {
        if let Some(found) = identities.lookup(identifier).await? {
            contact = Some(found);
            break;
        }
    }
    let Some(contact) = contact else {
        // Nobody we know: nothing stored to move.
        return Ok(Inbound::Skipped);
    };
    if message.id.is_empty() {
        return Ok(Inbound::Skipped);
    }
    let marker_key = ports.pseudonymizer.delivery_marker(&message.id);
    let marker = DeliveryMarker {
        first_seen_at: now,
        message: ItemKey::profile(&contact),
        queued: true,
    };
    let marker =
        Record::new(marker_key, &marker, retention::INBOUND_MARKER, now)?.owned_by(&contact);
    if ports.store.get(&marker.key).await?.is_some() {
        return Ok(Inbound::Duplicate);
    }
    if let Some(new_phone) = &change.new_phone {
        identities
            .change(&contact, sender.phone.as_ref(), new_phone, at)
            .await?;
    }
    if let Some(new_user) = &change.new_user_id {
        let old_user = change.previous_user_id.as_ref().or(sender.user_id.as_ref());
        identities.change(&contact, old_user, new_user, at).await?;
    }
    match ports.store.create(&marker).await {
        Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    tracing::info!(kind = %message.system.as_ref().map_or("", |s| s.kind.as_str()), "contact identity changed");
    Ok(Inbound::IdentityChanged)
}

/// An inbound message to store under `key`, unless it is `stored` already, in that class
/// (read just before: a redelivery's create would only fail its condition, after waiting for
/// the store's writer behind the commits of others).
struct MessageWrite<'a> {
    key: &'a ItemKey,
    message: &'a Message,
    stored: Option<RetentionClass>,
}

/// What storing a message left: the class and deadline of its contact's profile, and
/// whether the message was there before (a redelivery).
struct StoredWithProfile {
    class: RetentionClass,
    deadline: DateTime<Utc>,
    stored_before: bool,
}

/// Refreshes the contact's profile, stores the message in the profile's retention class and
/// creates its delivery marker (unless it has one).
///
/// The writes go out together: in AWS three requests in flight instead of one after the
/// other, on the embedded store usually one commit. The message takes the class the profile
/// was read with; should the profile have changed meanwhile (a handover, another delivery),
/// it is refreshed again and the message follows its class, on a retry too. A contact under
/// legal hold (its profile reads as absent, as every held item does) fails the profile's
/// write, and the message and marker written with it are deleted again: a held contact's
/// message is neither kept nor answered.
async fn store_with_profile(
    contact: &Pseudonym,
    sender: &SenderIdentity,
    at: DateTime<Utc>,
    message: MessageWrite<'_>,
    marker: Option<&Record>,
    ports: &Ports,
) -> Result<StoredWithProfile, ProcessError> {
    let store = ports.store.as_ref();
    let refresh = ProfileRefresh::read(contact, sender, at, store)
        .instrument(trace_span!("read profile"))
        .await?;
    // Every write ready before any is sent, so that the embedded store's writer finds them
    // waiting together.
    let read_class = refresh.profile.retention();
    let key = message.key;
    let (record, profile_write, written) =
        trace_span!("build the writes").in_scope(|| -> Result<_, ProcessError> {
            let record = match message.stored {
                None => Some(Record::new(key.clone(), message.message, read_class, at)?),
                Some(_) => None,
            };
            let (profile_write, written) = refresh.into_write()?;
            Ok((record, profile_write, written))
        })?;
    let (profile_written, message_created, marker_created) = async {
        tokio::join!(
            commit(store, profile_write.as_ref()),
            create(store, record.as_ref()),
            create(store, marker),
        )
    }
    .instrument(trace_span!("store writes"))
    .await;
    if let Err(StoreError::Held(held)) = &profile_written {
        let created = [
            record
                .as_ref()
                .filter(|_| message_created.is_ok())
                .map(|r| &r.key),
            marker.filter(|_| marker_created.is_ok()).map(|m| &m.key),
        ];
        for key in created.into_iter().flatten() {
            match store.delete(key).await {
                Ok(_) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        return Err(StoreError::Held(held.clone()).into());
    }
    let (class, deadline) = settle(
        profile_written.map(|()| written),
        contact,
        sender,
        at,
        ports,
    )
    .await?;
    let stored_before = match message_created {
        Ok(()) => message.stored.is_some(),
        Err(StoreError::AlreadyExists(_)) => true,
        Err(e) => return Err(e.into()),
    };
    // One created meanwhile by a concurrent delivery says the same. Without its marker, a
    // redelivery does everything again.
    match marker_created {
        Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    // Stored before by an interrupted delivery, perhaps in a class the profile has no more
    // (the class it was read in, if it was; else read again).
    let misclassified = match message.stored {
        Some(stored_class) => stored_class != class,
        None => class != read_class || stored_before,
    };
    if misclassified {
        reclassify(store, key, class, at).await?;
    }
    Ok(StoredWithProfile {
        class,
        deadline,
        stored_before,
    })
}

/// Creates a record, if there is one.
async fn create(store: &dyn Store, record: Option<&Record>) -> Result<(), StoreError> {
    match record {
        Some(record) => store.create(record).await,
        None => Ok(()),
    }
}

/// Commits a write on its own, if there is one.
async fn commit(store: &dyn Store, write: Option<&Write>) -> Result<(), StoreError> {
    match write {
        Some(write) => write.commit(store).await.map(drop),
        None => Ok(()),
    }
}

/// How often a write refused because its item changed since it was read is tried again from
/// a fresh read (the profile's refresh, the message's class).
const ATTEMPTS_WHILE_CHANGING: usize = 5;

/// A message stored in a class its contact's profile no longer has: the message follows the
/// profile's class now.
async fn reclassify(
    store: &dyn Store,
    key: &ItemKey,
    class: RetentionClass,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    for _ in 0..ATTEMPTS_WHILE_CHANGING {
        let Some(mut record) = store.get(key).await? else {
            // Gone with its contact.
            return Ok(());
        };
        if record.retention == class {
            return Ok(());
        }
        record.retain(class, at);
        match store.update(&record).await {
            Ok(_) | Err(StoreError::NotFound(_)) => return Ok(()),
            // Changed meanwhile: read it again.
            Err(StoreError::VersionConflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Backend("message kept changing".into()))
}

/// Whether a profile's write was refused because the profile changed since it was read.
fn changed_meanwhile(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::AlreadyExists(_) | StoreError::VersionConflict { .. } | StoreError::NotFound(_)
    )
}

/// The profile's class and deadline once its write is done. A write refused because the
/// profile changed meanwhile is refreshed again from what is stored now (up to
/// [`ATTEMPTS_WHILE_CHANGING`] more times, [`upsert_contact`]).
async fn settle(
    written: Result<Written, StoreError>,
    contact: &Pseudonym,
    sender: &SenderIdentity,
    at: DateTime<Utc>,
    ports: &Ports,
) -> Result<(RetentionClass, DateTime<Utc>), ProcessError> {
    match written {
        Ok(written) => written.follow(contact, at, ports).await,
        Err(e) if changed_meanwhile(&e) => upsert_contact(contact, sender, at, ports).await,
        Err(e) => Err(e.into()),
    }
}

/// Creates or refreshes the contact's profile (last contact, identifiers, names) until no one
/// else changes it meanwhile; returns the retention class of its data and the profile's
/// deadline.
async fn upsert_contact(
    contact: &Pseudonym,
    sender: &SenderIdentity,
    at: DateTime<Utc>,
    ports: &Ports,
) -> Result<(RetentionClass, DateTime<Utc>), ProcessError> {
    let store = ports.store.as_ref();
    for _ in 0..ATTEMPTS_WHILE_CHANGING {
        let refresh = ProfileRefresh::read(contact, sender, at, store).await?;
        match refresh.write(store).await {
            Ok(written) => return written.follow(contact, at, ports).await,
            Err(e) if changed_meanwhile(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Backend("contact profile kept changing".into()).into())
}

/// A contact's profile as this message leaves it. A contact that only talks to the bot keeps
/// `bot-7d`; authentication or a handover (by Lisa) moves it to `service-13m`. Either way the
/// deadline counts from the last contact. A message with a phone number or user id other than
/// the profile's (changed without a system message) moves the identity.
struct ProfileRefresh {
    profile: Stored<Contact>,
    /// Whether the message changed it (a new contact, a later last contact, new identifiers
    /// or names): only then is it written.
    changed: bool,
    /// The identifiers it replaced (old, new), whose links move once it is written.
    replaced: Vec<(Identifier, Identifier)>,
}

/// A profile written (or left as it was): its class and deadline, and the links still to move.
struct Written {
    class: RetentionClass,
    deadline: DateTime<Utc>,
    replaced: Vec<(Identifier, Identifier)>,
}

impl ProfileRefresh {
    /// The stored profile (a new one if none is readable) with the message applied.
    async fn read(
        contact: &Pseudonym,
        sender: &SenderIdentity,
        at: DateTime<Utc>,
        store: &dyn Store,
    ) -> Result<Self, StoreError> {
        let key = ItemKey::profile(contact);
        let mut profile = match store.load::<Contact>(&key).await? {
            Some(profile) => profile,
            None => Stored::new(
                key,
                Contact::first_seen(sender.profile_name.clone(), at),
                retention::NEW_CONTACT,
                at,
            ),
        };
        let before = profile.body.clone();
        profile.body.last_contact_at = profile.body.last_contact_at.max(at);
        let replaced = apply_sender(&mut profile.body, sender);
        let changed = !profile.exists() || profile.body != before;
        if changed {
            // The profile is the anchor of its contact's data: it counts from the last contact.
            let class = profile.retention();
            let last_contact = profile.body.last_contact_at;
            profile.retain(class, last_contact);
        }
        Ok(Self {
            profile,
            changed,
            replaced,
        })
    }

    /// The profile's write, if the message changed it, and the profile as written.
    fn into_write(self) -> Result<(Option<Write>, Written), StoreError> {
        let written = Written {
            class: self.profile.retention(),
            deadline: self.profile.expires_at(),
            replaced: self.replaced,
        };
        let write = match self.changed {
            true => Some(self.profile.into_write()?),
            false => None,
        };
        Ok((write, written))
    }

    /// Writes the profile if the message changed it.
    async fn write(self, store: &dyn Store) -> Result<Written, StoreError> {
        let (write, written) = self.into_write()?;
        commit(store, write.as_ref()).await?;
        Ok(written)
    }
}

impl Written {
    /// Moves the links of the identifiers the profile replaced; returns its class and deadline.
    async fn follow(
        self,
        contact: &Pseudonym,
        at: DateTime<Utc>,
        ports: &Ports,
    ) -> Result<(RetentionClass, DateTime<Utc>), ProcessError> {
        for (old, new) in &self.replaced {
            identities(ports)
                .change(contact, Some(old), new, at)
                .await?;
        }
        Ok((self.class, self.deadline))
    }
}

/// Writes what the sender shows onto the profile; returns the identifiers it replaced (old,
/// new), whose links must move.
fn apply_sender(profile: &mut Contact, sender: &SenderIdentity) -> Vec<(Identifier, Identifier)> {
    let mut replaced = Vec::new();
    for new in [&sender.phone, &sender.user_id].into_iter().flatten() {
        let old = match new {
            Identifier::Phone(_) => profile
                .wa_id
                .as_deref()
                .and_then(|p| Identifier::phone(p).ok()),
            Identifier::UserId(_) => profile
                .user_id
                .as_deref()
                .and_then(|u| Identifier::user_id(u).ok()),
        };
        if set_identifier(profile, new)
            && let Some(old) = old
        {
            replaced.push((old, new.clone()));
        }
    }
    if sender.user_id.is_some() && sender.parent_user_id.is_some() {
        profile.parent_user_id = sender.parent_user_id.clone();
    }
    if sender.username.is_some() {
        profile.username = sender.username.clone();
    }
    if sender.profile_name.is_some() {
        profile.profile_name = sender.profile_name.clone();
    }
    replaced
}
