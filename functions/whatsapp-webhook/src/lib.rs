//! The WhatsApp webhook: verifies, parses, de-duplicates, stores, enqueues, answers fast.
//! It never calls WhatsApp itself; Lisa (`bot-reply`) reads the inbound queue.

use chrono::{DateTime, Utc};
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use servicekanal_shared::clock::SharedClock;
use servicekanal_shared::domain::{
    Actor, Contact, DeliveryMarker, DeliveryStatus, Direction, Message,
};
use servicekanal_shared::keys::{ItemKey, Pseudonymizer};
use servicekanal_shared::mask::Secret;
use servicekanal_shared::messages::{self, BotWork, InboundNotice, StatusOutcome};
use servicekanal_shared::queue::{Queue, QueueError};
use servicekanal_shared::retention::RetentionClass;
use servicekanal_shared::store::{Record, Store, StoreError};
use servicekanal_shared::whatsapp::payload::{
    BUSINESS_ACCOUNT_OBJECT, SIGNATURE_HEADER, WaMessage, WebhookPayload, verify_signature,
};
use std::collections::HashMap;
use std::sync::Arc;

/// The path the webhook is served at (function URL, HTTP API and local stack alike).
pub const WEBHOOK_PATH: &str = "/webhook";
/// Bodies above this are refused with 413. WhatsApp's payloads reach a few MB at most.
pub const DEFAULT_MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

pub struct WebhookConfig {
    pub app_secret: Secret<String>,
    pub verify_token: Secret<String>,
    pub max_body_bytes: usize,
}

/// Everything the handler needs, built once per cold start.
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub inbound_queue: Arc<dyn Queue>,
    pub clock: SharedClock,
    pub pseudonymizer: Pseudonymizer,
    pub config: WebhookConfig,
}

#[derive(Debug, thiserror::Error)]
enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// What one POST amounted to (counts only, for the log line and the tests).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub stored: u32,
    pub duplicates: u32,
    pub statuses_applied: u32,
    pub statuses_ignored: u32,
    pub errors_reported: u32,
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
    if let Err(e) = verify_signature(ports.config.app_secret.expose().as_bytes(), body, signature) {
        tracing::warn!(reason = %e, "webhook signature refused");
        return text(StatusCode::UNAUTHORIZED, "invalid signature");
    }
    let payload: WebhookPayload = match serde_json::from_slice(body) {
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
pub async fn process(payload: &WebhookPayload, ports: &Ports) -> Result<Summary, String> {
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
        let names: HashMap<&str, Option<&str>> = value
            .contacts
            .iter()
            .map(|c| {
                let name = c.profile.as_ref().and_then(|p| p.name.as_deref());
                (c.wa_id.as_str(), name)
            })
            .collect();
        for message in &value.messages {
            let name = names.get(message.from.as_str()).copied().flatten();
            match store_inbound(message, name, ports).await {
                Ok(Inbound::Stored) => summary.stored += 1,
                Ok(Inbound::Duplicate) => summary.duplicates += 1,
                Ok(Inbound::Skipped) => summary.skipped += 1,
                // The contact's data is under legal hold: blocked from any use, so the message
                // is neither stored with it nor answered.
                Err(ProcessError::Store(StoreError::Held(_))) => {
                    tracing::warn!("message of a contact under legal hold not processed");
                    summary.skipped += 1;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        for status in &value.statuses {
            let Some(delivery) = messages::parse_status(&status.status) else {
                summary.statuses_ignored += 1;
                continue;
            };
            let code = status.errors.first().map(|e| e.code);
            if let Some(code) = code {
                tracing::warn!(code, status = %status.status, "outbound message failed");
            }
            let outcome = messages::apply_status(
                ports.store.as_ref(),
                &ports.pseudonymizer,
                &status.id,
                delivery,
                code,
            )
            .await
            .map_err(|e| e.to_string())?;
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
    Skipped,
}

fn message_time(message: &WaMessage, now: DateTime<Utc>) -> DateTime<Utc> {
    message
        .timestamp
        .parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .unwrap_or(now)
}

/// Stores a new inbound message and queues it for Lisa, exactly once per WhatsApp id.
///
/// The delivery marker is created with a conditional write first; if it already exists and
/// says "queued", this is a redelivery. If it exists but the work was interrupted, the
/// remaining steps run again: each is idempotent (deterministic keys, conditional creates,
/// FIFO deduplication by WhatsApp id).
async fn store_inbound(
    message: &WaMessage,
    profile_name: Option<&str>,
    ports: &Ports,
) -> Result<Inbound, ProcessError> {
    let now = ports.clock.now();
    let Ok(contact) = ports.pseudonymizer.contact(&message.from) else {
        tracing::warn!("inbound message without a usable sender id skipped");
        return Ok(Inbound::Skipped);
    };
    if message.id.is_empty() {
        return Ok(Inbound::Skipped);
    }
    let at = message_time(message, now);
    let message_id = messages::message_id_for(&message.id, at);
    let message_key = ItemKey::message(&contact, message_id);
    let marker_key = ports.pseudonymizer.delivery_marker(&message.id);
    let marker = DeliveryMarker {
        first_seen_at: now,
        message: message_key.clone(),
        queued: false,
    };
    // The marker as stored: ours if the create wins, else the one found (an interrupted
    // earlier delivery, or a concurrent one). Kept to mark it queued without reading it again.
    let mut marker_record =
        Record::new(marker_key.clone(), &marker, RetentionClass::Bot7d, now)?.owned_by(&contact);
    match ports.store.create(&marker_record).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(_)) => {
            if let Some(existing) = ports.store.get(&marker_key).await? {
                if existing.body::<DeliveryMarker>()?.queued {
                    return Ok(Inbound::Duplicate);
                }
                marker_record = existing;
            }
        }
        Err(e) => return Err(e.into()),
    }

    let class = upsert_contact(&contact, &message.from, profile_name, at, ports).await?;
    let stored = Message {
        id: message_id,
        conversation_id: None,
        wamid: Some(message.id.clone()),
        direction: Direction::Inbound,
        actor: Actor::Customer,
        message_type: message.message_type(),
        content: message.content(),
        at,
        delivery: DeliveryStatus::Received,
        error_code: None,
        handling: None,
        facts: None,
    };
    match ports
        .store
        .create(&Record::new(message_key.clone(), &stored, class, at)?)
        .await
    {
        Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
        Err(e) => return Err(e.into()),
    }

    let notice = BotWork::Inbound(InboundNotice {
        message: message_key,
        received_at: now,
    });
    ports
        .inbound_queue
        .send(notice.to_queue_message(now))
        .await?;

    // Mark as queued; if this fails, a redelivery queues again within SQS's dedup window.
    // A version conflict means a concurrent delivery got there first (also queued); a
    // vanished marker (erased contact) needs no mark.
    let mut marker: DeliveryMarker = marker_record.body()?;
    marker.queued = true;
    marker_record.set_body(&marker)?;
    match ports.store.update(&marker_record).await {
        Ok(_) | Err(StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Inbound::Stored)
}

/// Creates or refreshes the contact's profile; returns the retention class of its data.
/// A contact that only talks to the bot keeps `bot-7d`; authentication or a handover (by
/// Lisa) moves it to `service-13m`. Either way the deadline counts from the last contact.
async fn upsert_contact(
    contact: &servicekanal_shared::keys::Pseudonym,
    wa_id: &str,
    profile_name: Option<&str>,
    at: DateTime<Utc>,
    ports: &Ports,
) -> Result<RetentionClass, ProcessError> {
    let key = ItemKey::profile(contact);
    for _ in 0..5 {
        match ports.store.get(&key).await? {
            None => {
                let profile = Contact::new(wa_id, profile_name.map(str::to_owned), at);
                let record = Record::new(key.clone(), &profile, RetentionClass::Bot7d, at)?;
                match ports.store.create(&record).await {
                    Ok(()) => return Ok(RetentionClass::Bot7d),
                    Err(StoreError::AlreadyExists(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Some(mut record) => {
                let class = record.retention;
                let mut profile: Contact = record.body()?;
                if at <= profile.last_contact_at
                    && profile_name.is_none_or(|n| profile.profile_name.as_deref() == Some(n))
                {
                    return Ok(class);
                }
                profile.last_contact_at = profile.last_contact_at.max(at);
                if let Some(name) = profile_name {
                    profile.profile_name = Some(name.to_owned());
                }
                record.set_body(&profile)?;
                record.expires_at = class.deadline(profile.last_contact_at);
                match ports.store.update(&record).await {
                    Ok(_) => return Ok(class),
                    Err(StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Err(StoreError::Backend("contact profile kept changing".into()).into())
}
