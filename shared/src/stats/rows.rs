//! The rows of the anonymised statistics: the only place their columns are written down.
//! Each struct derives its Parquet writer, so the Parquet schema is these fields; the Glue
//! tables in template.yaml mirror them (a test compares the two).
//!
//! Times are UTC, cut to the minute (the hour for deletions). No column holds anything
//! personal or anything that links rows of different conversations.

// The derived writer converts timestamps with chrono calls chrono has since deprecated.
#![allow(deprecated)]

use chrono::NaiveDateTime;
use parquet_derive::ParquetRecordWriter;

#[derive(Clone, Debug, PartialEq, ParquetRecordWriter)]
pub struct MessageEventRow {
    pub event_time: NaiveDateTime,
    pub channel: String,
    /// inbound, outbound or internal (an agent's note).
    pub direction: String,
    /// customer, bot, agent or system.
    pub actor: String,
    pub message_type: String,
    /// bot or agent: who was answering in the conversation.
    pub conversation_mode: Option<String>,
    /// The catalogue topic the conversation was about, if any.
    pub topic: Option<String>,
    /// Replies only: how long the customer waited for this reply.
    pub response_seconds: Option<i64>,
    /// Outbound only: WhatsApp's billing category (`service`, `utility`, `marketing`, ...).
    pub pricing_category: Option<String>,
    /// Outbound only: `regular`, `free_customer_service`, `free_entry_point`, ...
    pub pricing_type: Option<String>,
    /// Customer free text to Lisa only: `directly` (answered), `between-two` (she asked which
    /// of two topics), `rephrase` (she asked to rephrase).
    pub understood: Option<String>,
    /// Customer messages only: whether handling it sent a message to Lisa's review.
    pub sent_to_review: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, ParquetRecordWriter)]
pub struct ConversationRow {
    pub started_at: NaiveDateTime,
    pub ended_at: NaiveDateTime,
    pub duration_seconds: i64,
    pub channel: String,
    pub customer_messages: i64,
    pub bot_messages: i64,
    pub agent_messages: i64,
    /// Concerns raised in the conversation.
    pub dialogs: i64,
    pub handed_over: bool,
    pub authenticated: bool,
    /// customer, prospect or unknown.
    pub contact_kind: String,
    /// goodbye, agent-closed, inactivity, erased or expired.
    pub end_reason: String,
}

#[derive(Clone, Debug, PartialEq, ParquetRecordWriter)]
pub struct SurveyResponseRow {
    pub answered_at: NaiveDateTime,
    pub channel: String,
    /// 1 to 5; empty when skipped.
    pub score: Option<i32>,
    pub solved: Option<bool>,
    /// Whether a comment was left (the comment itself stays in the answer, never here).
    pub has_comment: bool,
    pub handed_over: bool,
}

#[derive(Clone, Debug, PartialEq, ParquetRecordWriter)]
pub struct CallbackRow {
    pub requested_at: NaiveDateTime,
    pub channel: String,
    pub topic: String,
    /// completed, expired or erased.
    pub outcome: String,
    pub hours_to_outcome: f64,
}

#[derive(Clone, Debug, PartialEq, ParquetRecordWriter)]
pub struct DeletionRow {
    pub deleted_hour: NaiveDateTime,
    pub retention_class: String,
    /// ttl, sweeper, erasure or purpose_fulfilled.
    pub reason: String,
    pub items: i64,
}
