//! The Lex V2 code hook of the callback intent. `aws_lambda_events` carries only Lex V1, so
//! the V2 shapes are typed here (the fields this hook reads and writes; the rest passes
//! through untouched).
//!
//! Slots: `Name`, `Topic`, `CallbackDate` (AMAZON.Date), `CallbackTime` (AMAZON.Time) and the
//! optional `CallbackNumber` (AMAZON.PhoneNumber). Connect uses its ContactId as the Lex
//! session id, and the flow puts the caller's number into the session attribute `CallerNumber`.

use crate::{CallbackInput, Field, InvalidInput, Ports, VoiceError, confirmation, prompt_for};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use servicekanal_shared::domain::callback::parse_window;
use servicekanal_shared::domain::phone;
use std::collections::HashMap;

pub const NAME: &str = "Name";
pub const TOPIC: &str = "Topic";
pub const DATE: &str = "CallbackDate";
pub const TIME: &str = "CallbackTime";
pub const NUMBER: &str = "CallbackNumber";
pub const CALLER_NUMBER_ATTRIBUTE: &str = "CallerNumber";

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LexEvent {
    /// `DialogCodeHook` while slots are filled, `FulfillmentCodeHook` at the end.
    pub invocation_source: String,
    pub session_id: String,
    #[serde(default)]
    pub input_transcript: Option<String>,
    pub session_state: SessionState,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionState {
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub session_attributes: HashMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialog_action: Option<DialogAction>,
    pub intent: Intent,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    pub name: String,
    #[serde(default)]
    pub slots: HashMap<String, Option<Slot>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    pub value: Option<SlotValue>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotValue {
    #[serde(default)]
    pub original_value: Option<String>,
    #[serde(default)]
    pub interpreted_value: Option<String>,
    #[serde(default)]
    pub resolved_values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DialogAction {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_to_elicit: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LexMessage {
    pub content_type: String,
    pub content: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LexResponse {
    pub session_state: SessionState,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<LexMessage>,
}

impl LexEvent {
    /// A slot's value: what Lex interpreted, else what was said.
    pub fn slot(&self, name: &str) -> Option<String> {
        let value = self
            .session_state
            .intent
            .slots
            .get(name)?
            .as_ref()?
            .value
            .as_ref()?;
        value
            .interpreted_value
            .clone()
            .or_else(|| value.original_value.clone())
            .filter(|v| !v.trim().is_empty())
    }

    fn window(&self) -> Option<String> {
        match (self.slot(DATE), self.slot(TIME)) {
            (Some(date), Some(time)) => Some(format!("{date} {time}")),
            (Some(date), None) => Some(date),
            _ => None,
        }
    }

    fn input(&self) -> CallbackInput {
        CallbackInput {
            contact_id: self.session_id.clone(),
            caller_number: self
                .session_state
                .session_attributes
                .get(CALLER_NUMBER_ATTRIBUTE)
                .cloned(),
            callback_number: self.slot(NUMBER),
            name: self.slot(NAME),
            topic: self.slot(TOPIC),
            window: self.window(),
        }
    }
}

fn say(text: String) -> Vec<LexMessage> {
    vec![LexMessage {
        content_type: "PlainText".into(),
        content: text,
    }]
}

fn respond(event: &LexEvent, action: DialogAction, messages: Vec<LexMessage>) -> LexResponse {
    let mut state = event.session_state.clone();
    state.dialog_action = Some(action);
    LexResponse {
        session_state: state,
        messages,
    }
}

/// Asks again for one slot (cleared), with the German prompt for it.
fn elicit(event: &LexEvent, slot: &str, field: Field, ports: &Ports) -> LexResponse {
    let mut response = respond(
        event,
        DialogAction {
            kind: "ElicitSlot".into(),
            slot_to_elicit: Some(slot.into()),
        },
        say(prompt_for(field, ports)),
    );
    response
        .session_state
        .intent
        .slots
        .insert(slot.into(), None);
    response
}

/// The slot Lex should ask again for, when what was filled so far cannot be used.
fn check_filled(event: &LexEvent, ports: &Ports) -> Option<(&'static str, Field)> {
    if let Some(number) = event.slot(NUMBER)
        && phone::normalize(&number).is_err()
    {
        return Some((NUMBER, Field::Phone));
    }
    if let Some(topic) = event.slot(TOPIC)
        && ports.catalogue.find(&topic).is_none()
    {
        return Some((TOPIC, Field::Topic));
    }
    if event.slot(DATE).is_some()
        && event.slot(TIME).is_some()
        && let Some(window) = event.window()
        && parse_window(&window, ports.clock.now()).is_err()
    {
        return Some((TIME, Field::Window));
    }
    None
}

fn slot_of(field: Field) -> &'static str {
    match field {
        Field::Phone => NUMBER,
        Field::Name => NAME,
        Field::Topic => TOPIC,
        Field::Window => TIME,
        Field::ContactId => NAME,
    }
}

/// The code hook: validates slots as they are filled, and stores the request at fulfillment.
pub async fn on_lex(event: &LexEvent, ports: &Ports) -> LexResponse {
    if event.invocation_source != "FulfillmentCodeHook" {
        return match check_filled(event, ports) {
            Some((slot, field)) => {
                tracing::info!(field = field.as_str(), "Lex slot refused; asking again");
                elicit(event, slot, field, ports)
            }
            None => respond(
                event,
                DialogAction {
                    kind: "Delegate".into(),
                    slot_to_elicit: None,
                },
                Vec::new(),
            ),
        };
    }
    match crate::take_request(&event.input(), ports).await {
        Ok(taken) => {
            tracing::info!(new = taken.new, topic = %taken.request.topic, "callback request taken (Lex)");
            let mut response = respond(
                event,
                DialogAction {
                    kind: "Close".into(),
                    slot_to_elicit: None,
                },
                say(confirmation(&taken.request, ports)),
            );
            response.session_state.intent.state = Some("Fulfilled".into());
            response
                .session_state
                .session_attributes
                .insert("reference".into(), taken.request.reference);
            response
        }
        Err(VoiceError::Invalid(invalid)) => {
            let field = invalid.field();
            if matches!(invalid, InvalidInput::NoContactId) {
                tracing::error!("Lex session without an id");
            }
            elicit(event, slot_of(field), field, ports)
        }
        Err(e) => {
            tracing::error!(error = %e, "callback request failed (Lex)");
            let mut response = respond(
                event,
                DialogAction {
                    kind: "Close".into(),
                    slot_to_elicit: None,
                },
                say(ports.catalogue.texts.error.clone()),
            );
            response.session_state.intent.state = Some("Failed".into());
            response
        }
    }
}
