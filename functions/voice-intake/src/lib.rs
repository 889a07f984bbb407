//! voice-intake: takes callback requests from Amazon Connect (a contact flow invoking the
//! function) and from its Lex V2 bot (dialog and fulfillment code hooks), stores them under
//! `callback-3m`, hands them to sales, and carries out sales' actions (done, legal hold).
//!
//! One function, three event shapes: a Connect event (`Details`), a Lex V2 event
//! (`sessionState`), and an SQS batch from the sales-actions queue (`Records`).

pub mod lex;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekanal_shared::domain::callback::{
    CallbackCatalogue, Window, WindowError, describe_window, parse_window, reference_for,
};
use servicekanal_shared::domain::keys::{ItemKey, OPEN_CALLBACKS_PARTITION, Pseudonymizer};
use servicekanal_shared::domain::phone::{self, PhoneError};
use servicekanal_shared::domain::{CallbackRequest, CallbackStatus, OpenCallback};
use servicekanal_shared::policy::retention::{self, Anchor};
use servicekanal_shared::ports::clock::SharedClock;
use servicekanal_shared::ports::queue::{self, ItemOutcome, OutgoingMessage, Queue, QueueError};
use servicekanal_shared::ports::store::{Hold, Record, Store, StoreError, Write, all_pages};
use servicekanal_shared::runtime::{Env, StartupError, env};
use std::collections::HashMap;
use std::sync::Arc;

/// What the function reads from its environment at cold start (template.yaml sets it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub table_name: String,
    pub secrets_arn: String,
    pub sales_queue_url: String,
}

impl Environment {
    pub fn read(env: &Env) -> Result<Self, StartupError> {
        Ok(Self {
            table_name: env.required(env::TABLE_NAME)?,
            secrets_arn: env.required(env::SECRETS_ARN)?,
            sales_queue_url: env.required(env::SALES_QUEUE_URL)?,
        })
    }
}

/// Everything the handler needs, built once per cold start.
pub struct Ports {
    pub store: Arc<dyn Store>,
    /// Sales' queue of new callback requests (FIFO, deduplicated per Connect contact).
    pub sales_queue: Arc<dyn Queue>,
    pub clock: SharedClock,
    pub catalogue: CallbackCatalogue,
    /// Names the caller's number as the owner of the request (its caller pseudonym), so an
    /// erasure or access request for that number finds it.
    pub pseudonymizer: Pseudonymizer,
}

/// What the caller left, before validation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallbackInput {
    /// Connect's ContactId (also the Lex session id): one request per call.
    pub contact_id: String,
    /// The number the caller called from (`CustomerEndpoint.Address`).
    pub caller_number: Option<String>,
    /// A different number to call back on, if the caller gave one.
    pub callback_number: Option<String>,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub window: Option<String>,
}

/// The field the flow should ask again for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    ContactId,
    Phone,
    Name,
    Topic,
    Window,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::ContactId => "contact_id",
            Field::Phone => "phone",
            Field::Name => "name",
            Field::Topic => "topic",
            Field::Window => "window",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidInput {
    #[error("no Connect contact id")]
    NoContactId,
    #[error("phone: {0}")]
    Phone(#[from] PhoneError),
    #[error("name missing or too long")]
    Name,
    #[error("unknown topic")]
    Topic,
    #[error("window: {0}")]
    Window(#[from] WindowError),
}

impl InvalidInput {
    pub fn field(&self) -> Field {
        match self {
            InvalidInput::NoContactId => Field::ContactId,
            InvalidInput::Phone(_) => Field::Phone,
            InvalidInput::Name => Field::Name,
            InvalidInput::Topic => Field::Topic,
            InvalidInput::Window(_) => Field::Window,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error("invalid input: {0}")]
    Invalid(#[from] InvalidInput),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("not an event this function takes: {0}")]
    UnknownEvent(String),
}

/// A validated request, before it is stored.
struct Valid {
    phone: String,
    name: String,
    topic: String,
    window: Window,
}

const MAX_NAME_CHARS: usize = 100;

fn validate(input: &CallbackInput, ports: &Ports) -> Result<Valid, InvalidInput> {
    if input.contact_id.trim().is_empty() {
        return Err(InvalidInput::NoContactId);
    }
    let number = input
        .callback_number
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .or(input.caller_number.as_deref())
        .unwrap_or_default();
    let phone = phone::normalize(number)?;
    let name = input.name.as_deref().unwrap_or_default().trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(InvalidInput::Name);
    }
    let topic = ports
        .catalogue
        .find(input.topic.as_deref().unwrap_or_default())
        .ok_or(InvalidInput::Topic)?;
    let window = parse_window(
        input.window.as_deref().unwrap_or_default(),
        ports.clock.now(),
    )?;
    Ok(Valid {
        phone,
        name: name.to_owned(),
        topic: topic.id.clone(),
        window,
    })
}

/// What sales receives for a new request: enough to call back, nothing more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesCallback {
    pub reference: String,
    pub phone: String,
    pub name: String,
    pub topic: String,
    pub topic_label: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
}

/// A stored (or already stored) request.
#[derive(Clone, Debug, PartialEq)]
pub struct Taken {
    pub request: CallbackRequest,
    /// False when Connect retried and the request was there already.
    pub new: bool,
}

/// Validates, stores once per Connect contact, and hands the request to sales.
pub async fn take_request(input: &CallbackInput, ports: &Ports) -> Result<Taken, VoiceError> {
    let valid = validate(input, ports)?;
    let now = ports.clock.now();
    let key = ItemKey::callback_request(&input.contact_id);
    let request = CallbackRequest {
        connect_contact_id: input.contact_id.clone(),
        reference: reference_for(&input.contact_id),
        phone: valid.phone,
        name: Some(valid.name),
        topic: valid.topic,
        window_start: valid.window.start,
        window_end: valid.window.end,
        requested_at: now,
        status: CallbackStatus::Open,
        done_at: None,
    };
    let owner = ports
        .pseudonymizer
        .caller(&request.phone)
        .map_err(|e| StoreError::Encode(e.to_string()))?;
    let record =
        Record::new(key.clone(), &request, retention::CALLBACK_REQUEST, now)?.owned_by(&owner);
    let pointer = Record::new(
        ItemKey::open_callback(request.window_start, &request.connect_contact_id),
        &OpenCallback {
            connect_contact_id: request.connect_contact_id.clone(),
            reference: request.reference.clone(),
        },
        record.retention,
        Anchor::With(record.expires_at),
    )?
    .owned_by(&owner);
    let taken = match ports
        .store
        .write_all(&[Write::Create(record), Write::Create(pointer)])
        .await
    {
        Ok(()) => Taken { request, new: true },
        // Connect retried (or the caller's flow ran twice): the first request stands.
        Err(StoreError::AlreadyExists(_)) => match ports.store.get(&key).await? {
            Some(existing) => Taken {
                request: existing.body()?,
                new: false,
            },
            None => return Err(StoreError::NotFound(key).into()),
        },
        Err(e) => return Err(e.into()),
    };
    // Sent on a retry too: the FIFO queue drops the repeat, and a send lost the first time
    // is made up for.
    let topic_label = ports
        .catalogue
        .get(&taken.request.topic)
        .map(|t| t.label.clone())
        .unwrap_or_default();
    let message = SalesCallback {
        reference: taken.request.reference.clone(),
        phone: taken.request.phone.clone(),
        name: taken.request.name.clone().unwrap_or_default(),
        topic: taken.request.topic.clone(),
        topic_label,
        window_start: taken.request.window_start,
        window_end: taken.request.window_end,
    };
    let body = serde_json::to_string(&message).expect("a sales callback always serialises");
    ports
        .sales_queue
        .send(OutgoingMessage::fifo(
            body,
            "callbacks",
            &taken.request.connect_contact_id,
        ))
        .await?;
    Ok(taken)
}

/// The number as the flow reads it out: digit by digit, grouped.
fn spoken_number(e164: &str) -> String {
    let national = match e164.strip_prefix("+49") {
        Some(rest) => format!("0{rest}"),
        None => e164.to_owned(),
    };
    national
        .chars()
        .collect::<Vec<_>>()
        .chunks(3)
        .map(|c| {
            c.iter()
                .map(|d| format!("{d} "))
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sentence the flow speaks after a request was taken.
pub fn confirmation(request: &CallbackRequest, ports: &Ports) -> String {
    let window = describe_window(
        Window {
            start: request.window_start,
            end: request.window_end,
        },
        ports.clock.now(),
    );
    ports
        .catalogue
        .texts
        .confirmation
        .replace("{window}", &window)
        .replace("{number}", &spoken_number(&request.phone))
        .replace("{reference}", &spoken_reference(&request.reference))
}

/// "RB-7K2Q4M" read out: "R B, 7 K 2 Q 4 M".
fn spoken_reference(reference: &str) -> String {
    let code = reference.trim_start_matches("RB-");
    let letters: Vec<String> = code.chars().map(String::from).collect();
    format!("R B, {}", letters.join(" "))
}

/// The prompt for a field the caller has to give again.
pub fn prompt_for(field: Field, ports: &Ports) -> String {
    let texts = &ports.catalogue.texts;
    match field {
        Field::Phone => texts.invalid_phone.clone(),
        Field::Window => texts.invalid_window.clone(),
        Field::Topic => texts.invalid_topic.clone(),
        Field::Name => texts.invalid_name.clone(),
        Field::ContactId => texts.error.clone(),
    }
}

/// What voice-intake reads of a Connect invocation. Read leniently, unlike
/// `aws_lambda_events`' `ConnectEvent`: Connect's own minimal events carry `null` endpoints,
/// and a field that is null, missing or of another type must make that one field missing (the
/// flow then hears which), never the whole event unreadable (a Lambda error takes the flow's
/// error branch with no prompt).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ConnectInvocation {
    #[serde(rename = "Details", default, deserialize_with = "lenient")]
    details: ConnectDetails,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct ConnectDetails {
    #[serde(rename = "ContactData", default, deserialize_with = "lenient")]
    contact_data: ContactData,
    #[serde(rename = "Parameters", default, deserialize_with = "lenient")]
    parameters: HashMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct ContactData {
    #[serde(rename = "ContactId", default, deserialize_with = "lenient")]
    contact_id: Option<String>,
    #[serde(rename = "CustomerEndpoint", default, deserialize_with = "lenient")]
    customer_endpoint: Endpoint,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct Endpoint {
    #[serde(rename = "Address", default, deserialize_with = "lenient")]
    address: Option<String>,
}

/// A field that does not read as `T` (null, another type) is `T::default()`.
fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

fn parameter(event: &ConnectInvocation, name: &str) -> Option<String> {
    let value = event.details.parameters.get(name)?;
    let text = match value {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// The Connect contact flow's call: a flat string map back, within Connect's 8 seconds.
pub async fn on_connect(event: &ConnectInvocation, ports: &Ports) -> HashMap<String, String> {
    let contact = &event.details.contact_data;
    let input = CallbackInput {
        contact_id: contact.contact_id.clone().unwrap_or_default(),
        caller_number: contact.customer_endpoint.address.clone(),
        callback_number: parameter(event, "callback_number"),
        name: parameter(event, "name"),
        topic: parameter(event, "topic"),
        window: parameter(event, "window"),
    };
    let mut answer = HashMap::new();
    match take_request(&input, ports).await {
        Ok(taken) => {
            tracing::info!(
                new = taken.new,
                topic = %taken.request.topic,
                "callback request taken"
            );
            answer.insert("status".into(), "ok".into());
            answer.insert("reference".into(), taken.request.reference.clone());
            answer.insert("message".into(), confirmation(&taken.request, ports));
        }
        Err(VoiceError::Invalid(invalid)) => {
            // The reason names the field only: what the caller said stays out of the logs.
            tracing::info!(field = invalid.field().as_str(), reason = %invalid, "callback input refused");
            answer.insert("status".into(), "invalid".into());
            answer.insert("field".into(), invalid.field().as_str().into());
            answer.insert("message".into(), prompt_for(invalid.field(), ports));
        }
        Err(e) => {
            tracing::error!(error = %e, "callback request failed");
            answer.insert("status".into(), "error".into());
            answer.insert("message".into(), ports.catalogue.texts.error.clone());
        }
    }
    answer
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SalesError {
    #[error("no open callback request with reference {0}")]
    UnknownReference(String),
    #[error("storage failed: {0}")]
    Store(String),
}

impl From<StoreError> for SalesError {
    fn from(e: StoreError) -> Self {
        SalesError::Store(e.to_string())
    }
}

/// The sales list's entries, earliest window first.
async fn pointers(store: &dyn Store) -> Result<Vec<OpenCallback>, SalesError> {
    all_pages(100, |page| store.query(OPEN_CALLBACKS_PARTITION, "", page))
        .await?
        .iter()
        .map(|pointer| pointer.body().map_err(SalesError::from))
        .collect()
}

/// A request as stored, with the item it was read from (to update it without reading again).
struct Stored {
    record: Record,
    request: CallbackRequest,
}

async fn request_of(
    store: &dyn Store,
    pointer: &OpenCallback,
) -> Result<Option<Stored>, SalesError> {
    match store
        .get(&ItemKey::callback_request(&pointer.connect_contact_id))
        .await?
    {
        Some(record) => Ok(Some(Stored {
            request: record.body()?,
            record,
        })),
        None => Ok(None),
    }
}

/// Open callback requests, earliest window first (blocked ones are not listed).
pub async fn list_open(store: &dyn Store) -> Result<Vec<CallbackRequest>, SalesError> {
    let mut open = Vec::new();
    for pointer in pointers(store).await? {
        if let Some(Stored { request, .. }) = request_of(store, &pointer).await?
            && request.status == CallbackStatus::Open
        {
            open.push(request);
        }
    }
    Ok(open)
}

/// The listed request with this reference; only its own item is read.
async fn find_listed(store: &dyn Store, reference: &str) -> Result<Stored, SalesError> {
    let wanted = reference.trim().to_uppercase();
    let pointer = pointers(store)
        .await?
        .into_iter()
        .find(|p| p.reference == wanted);
    let stored = match &pointer {
        Some(pointer) => request_of(store, pointer).await?,
        None => None,
    };
    stored.ok_or(SalesError::UnknownReference(wanted))
}

/// The callback is done: its purpose is fulfilled, so the request is deleted at once. It is
/// marked done first, so the change stream tells the statistics the outcome; a retry after
/// an interruption finishes the deletion.
pub async fn mark_done(
    store: &dyn Store,
    reference: &str,
    done_at: DateTime<Utc>,
) -> Result<CallbackRequest, SalesError> {
    let Stored {
        mut record,
        mut request,
    } = find_listed(store, reference).await?;
    if request.status == CallbackStatus::Open {
        request.status = CallbackStatus::Done;
        request.done_at = Some(done_at);
        record.set_body(&request)?;
        match store.update(&record).await {
            // Deleted meanwhile (a concurrent "done"): nothing left to mark.
            Ok(_) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    store.delete(&record.key).await?;
    store
        .delete(&ItemKey::open_callback(
            request.window_start,
            &request.connect_contact_id,
        ))
        .await?;
    tracing::info!(topic = %request.topic, "callback done; request deleted");
    Ok(request)
}

/// The reason recorded when sales put a request on hold without giving one.
pub const DEFAULT_HOLD_REASON: &str = "legal hold requested by sales";

/// Legal hold: the request may not be deleted, so it is blocked from any use instead: not
/// listed, not callable, and no deadline applies until `servicekanal holds release`, which
/// lists it again (or deletes it, if its deadline passed meanwhile). Returns the request as
/// it was listed.
pub async fn hold(
    store: &dyn Store,
    reference: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<CallbackRequest, SalesError> {
    let Stored { record, request } = find_listed(store, reference).await?;
    if request.status != CallbackStatus::Open {
        return Err(SalesError::UnknownReference(request.reference));
    }
    let hold = Hold {
        reason: reason.to_owned(),
        placed_at: at,
    };
    match store.place_hold(&record.key, hold).await {
        Ok(_) => {}
        Err(StoreError::NotFound(_)) => {
            return Err(SalesError::UnknownReference(request.reference));
        }
        Err(e) => return Err(e.into()),
    }
    // The sales-list entry stays: the list skips a request it cannot read, and shows it
    // again when the hold is released before its deadline.
    tracing::info!("callback request blocked under legal hold");
    Ok(request)
}

/// What sales sends on the sales-actions queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum SalesAction {
    Done {
        reference: String,
    },
    Hold {
        reference: String,
        /// Why (a case reference); the default names sales.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// Carries out a sales action at `now`; returns the request it acted on.
pub async fn apply(
    store: &dyn Store,
    action: &SalesAction,
    now: DateTime<Utc>,
) -> Result<CallbackRequest, SalesError> {
    match action {
        SalesAction::Done { reference } => mark_done(store, reference, now).await,
        SalesAction::Hold { reference, reason } => {
            let reason = reason.as_deref().unwrap_or(DEFAULT_HOLD_REASON);
            hold(store, reference, reason, now).await
        }
    }
}

/// The sales-actions queue: done and hold; an unknown reference is already done (a retry).
pub async fn on_sales_actions(event: &SqsEvent, ports: &Ports) -> SqsBatchResponse {
    queue::consume(&event.records, |message| async move {
        let body = message.body.as_deref().unwrap_or_default();
        let action = match serde_json::from_str::<SalesAction>(body) {
            Ok(action) => action,
            Err(e) => {
                tracing::error!(error = %e, "sales action dropped: not a sales action");
                return ItemOutcome::Dropped;
            }
        };
        match apply(ports.store.as_ref(), &action, ports.clock.now()).await {
            Ok(_) => ItemOutcome::Done,
            Err(SalesError::UnknownReference(_)) => {
                tracing::warn!("sales action for an unknown or finished callback ignored");
                ItemOutcome::Done
            }
            Err(e) => {
                tracing::warn!(error = %e, "sales action failed; the queue will retry it");
                ItemOutcome::Retry
            }
        }
    })
    .await
}

/// The Lambda handler: tells the three event shapes apart and answers each in its own shape.
pub async fn handle(
    event: serde_json::Value,
    ports: &Ports,
) -> Result<serde_json::Value, VoiceError> {
    if event.get("Details").is_some() {
        let event: ConnectInvocation = serde_json::from_value(event)
            .map_err(|e| VoiceError::UnknownEvent(format!("Connect event: {e}")))?;
        return Ok(json(&on_connect(&event, ports).await));
    }
    if event.get("sessionState").is_some() {
        let event: lex::LexEvent = serde_json::from_value(event)
            .map_err(|e| VoiceError::UnknownEvent(format!("Lex V2 event: {e}")))?;
        return Ok(json(&lex::on_lex(&event, ports).await));
    }
    if event.get("Records").is_some() {
        let event: SqsEvent = serde_json::from_value(event)
            .map_err(|e| VoiceError::UnknownEvent(format!("SQS event: {e}")))?;
        return Ok(json(&on_sales_actions(&event, ports).await));
    }
    Err(VoiceError::UnknownEvent(
        "neither Connect, Lex V2 nor SQS".into(),
    ))
}

fn json<T: Serialize>(answer: &T) -> serde_json::Value {
    serde_json::to_value(answer).unwrap_or(serde_json::Value::Null)
}
