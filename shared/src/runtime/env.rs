//! The environment variables the Lambda functions read, each named once. `template.yaml` sets
//! them; every function reads its own into a typed `Environment` (in its `lib.rs`) at cold
//! start, and `cli/tests/template.rs` checks that the template sets what each one needs.

use super::StartupError;

/// The single table (every function but stats-export).
pub const TABLE_NAME: &str = "TABLE_NAME";
/// The service secret: app secret, verify token, access token, pseudonym key.
pub const SECRETS_ARN: &str = "SECRETS_ARN";
/// The customer master data (bot-reply's authentication).
pub const CUSTOMERS_TABLE_NAME: &str = "CUSTOMERS_TABLE_NAME";
pub const WHATSAPP_PHONE_NUMBER_ID: &str = "WHATSAPP_PHONE_NUMBER_ID";
pub const INBOUND_QUEUE_URL: &str = "INBOUND_QUEUE_URL";
pub const HANDOVER_QUEUE_URL: &str = "HANDOVER_QUEUE_URL";
/// The agent-actions FIFO queue (bot-reply puts Connect's streamed agent actions on it, in order per contact).
pub const AGENT_ACTIONS_QUEUE_URL: &str = "AGENT_ACTIONS_QUEUE_URL";
pub const CLOSED_QUEUE_URL: &str = "CLOSED_QUEUE_URL";
pub const TIMER_QUEUE_URL: &str = "TIMER_QUEUE_URL";
pub const SURVEY_QUEUE_URL: &str = "SURVEY_QUEUE_URL";
pub const SALES_QUEUE_URL: &str = "SALES_QUEUE_URL";
pub const STATS_BUCKET: &str = "STATS_BUCKET";
/// Which agent desk handovers reach: `connect` (Amazon Connect chat) or `queue` (the handover
/// queue, for a desk of one's own; the local stack's desk).
pub const AGENT_DESK: &str = "AGENT_DESK";
/// The Amazon Connect instance's id (the last part of its ARN).
pub const CONNECT_INSTANCE_ID: &str = "CONNECT_INSTANCE_ID";
/// The contact flow a handover chat starts in (it queues the chat for the agents).
pub const HANDOVER_CONTACT_FLOW_ID: &str = "HANDOVER_CONTACT_FLOW_ID";
/// The stack's SNS topic Connect streams a chat's messages and events to.
pub const CHAT_STREAMING_TOPIC_ARN: &str = "CHAT_STREAMING_TOPIC_ARN";
/// The customer's name the agent sees: `masked` (default) or `profile` (the WhatsApp profile name).
pub const CHAT_CUSTOMER_NAME: &str = "CHAT_CUSTOMER_NAME";
/// An agent's chat message that starts with this is a contract-change note, not relayed
/// (default `/notiz `).
pub const AGENT_NOTE_PREFIX: &str = "AGENT_NOTE_PREFIX";

/// Reads one variable; `None` if unset.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Where a function reads its settings: the process environment, or a map in tests.
pub struct Env<'a> {
    lookup: Lookup<'a>,
}

impl<'a> Env<'a> {
    pub fn process() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    /// A setting the function cannot run without.
    pub fn required(&self, name: &str) -> Result<String, StartupError> {
        self.optional(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| StartupError::MissingEnv(name.to_owned()))
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// The lookup itself, for the settings types that read their own variables.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name| (self.lookup)(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_required_setting_is_named() {
        let env = Env::from_lookup(|name| (name == TABLE_NAME).then(String::new));
        match env.required(TABLE_NAME) {
            Err(StartupError::MissingEnv(name)) => assert_eq!(name, TABLE_NAME),
            other => panic!("expected MissingEnv, got {other:?}"),
        }
        let env = Env::from_lookup(|name| (name == TABLE_NAME).then(|| "servicekanal".into()));
        assert_eq!(env.required(TABLE_NAME).unwrap(), "servicekanal");
        assert_eq!(env.optional(STATS_BUCKET), None);
    }
}
