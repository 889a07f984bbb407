//! The anonymiser: turns the table's change records (a DynamoDB stream, or the embedded
//! store's feed in the same shape) into the rows of the anonymised statistics, and writes
//! them as Parquet under Hive partitions.
//!
//! What becomes a row:
//! - a message: once, when it is sent or written (outbound, notes), or when Lisa files an
//!   inbound one into its conversation;
//! - a conversation: when it closes, or when it is deleted without having closed (expired,
//!   erased);
//! - a survey answer: when it is complete;
//! - a callback request: when it is done, or deleted before (expired, erased);
//! - every deletion: counted per hour, retention class and reason.

mod rows;

pub use rows::{CallbackRow, ConversationRow, DeletionRow, MessageEventRow, SurveyResponseRow};

use crate::domain::wire_name;
use crate::domain::{
    CallbackRequest, CallbackStatus, Conversation, ConversationState, DeliveryStatus, Direction,
    Message, SurveyAnswer, SurveySession,
};
use crate::policy::retention::RetentionClass;
use crate::ports::store::{Record, RecordKind, StoreError};
use aws_lambda_events::event::dynamodb::EventRecord;
use chrono::{DateTime, DurationRound, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::record::RecordWriter;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The statistics tables; each has its own prefix in the bucket and its own Glue table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    MessageEvents,
    Conversations,
    SurveyResponses,
    Callbacks,
    Deletions,
}

impl Table {
    pub const ALL: [Table; 5] = [
        Table::MessageEvents,
        Table::Conversations,
        Table::SurveyResponses,
        Table::Callbacks,
        Table::Deletions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::MessageEvents => "message_events",
            Table::Conversations => "conversations",
            Table::SurveyResponses => "survey_responses",
            Table::Callbacks => "callbacks",
            Table::Deletions => "deletions",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an item left the table (the `deletions` audit trail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeletionReason {
    /// DynamoDB's TTL, some time after the deadline (the stream names its service identity).
    Ttl,
    /// The retention sweeper, at the deadline.
    Sweeper,
    /// A data-subject's erasure request.
    Erasure,
    /// Deleted before its deadline because it served its purpose (a callback made, a finished
    /// survey's session, an open-callbacks list entry of a request no longer open).
    PurposeFulfilled,
}

impl DeletionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionReason::Ttl => "ttl",
            DeletionReason::Sweeper => "sweeper",
            DeletionReason::Erasure => "erasure",
            DeletionReason::PurposeFulfilled => "purpose_fulfilled",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("stream record has event name {0:?}, expected INSERT, MODIFY or REMOVE")]
    UnknownEvent(String),
    #[error("stream record lacks the {0} image (the stream must be NEW_AND_OLD_IMAGES)")]
    MissingImage(&'static str),
    #[error("stream record holds no readable item: {0}")]
    Item(#[from] StoreError),
    #[error("cannot write Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// The rows of one batch, per table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    pub message_events: Vec<MessageEventRow>,
    pub conversations: Vec<ConversationRow>,
    pub survey_responses: Vec<SurveyResponseRow>,
    pub callbacks: Vec<CallbackRow>,
    /// Counted per (hour, class, reason) while the batch is read.
    deletions: BTreeMap<(NaiveDateTime, RetentionClass, DeletionReason), i64>,
}

impl Rows {
    pub fn deletions(&self) -> Vec<DeletionRow> {
        self.deletions
            .iter()
            .map(|((hour, class, reason), items)| DeletionRow {
                deleted_hour: *hour,
                retention_class: class.to_string(),
                reason: reason.as_str().to_owned(),
                items: *items,
            })
            .collect()
    }

    /// How many rows each table gets.
    pub fn counts(&self) -> BTreeMap<Table, usize> {
        BTreeMap::from([
            (Table::MessageEvents, self.message_events.len()),
            (Table::Conversations, self.conversations.len()),
            (Table::SurveyResponses, self.survey_responses.len()),
            (Table::Callbacks, self.callbacks.len()),
            (Table::Deletions, self.deletions.len()),
        ])
    }

    /// Adds what one change record tells. A record that is not one of ours (or damaged) is
    /// an error and adds nothing.
    pub fn add(&mut self, record: &EventRecord) -> Result<(), StatsError> {
        let at = record.change.approximate_creation_date_time;
        match record.event_name.as_str() {
            "INSERT" | "MODIFY" => {
                // Most writes are of kinds no table counts (profiles, markers, links, ...):
                // their images are not read further, reading them is most of an export.
                let kind = crate::ports::store::kind_of_item(&record.change.new_image);
                if kind.is_some_and(|k| !counted_when_written(k)) {
                    return Ok(());
                }
                let old = image(&record.change.old_image)?;
                let new =
                    image(&record.change.new_image)?.ok_or(StatsError::MissingImage("new"))?;
                self.changed(old.as_ref(), &new, at)
            }
            "REMOVE" => {
                let old =
                    image(&record.change.old_image)?.ok_or(StatsError::MissingImage("old"))?;
                let reason = deletion_reason(record, &old)?;
                self.removed(&old, reason, at)
            }
            other => Err(StatsError::UnknownEvent(other.to_owned())),
        }
    }

    fn changed(
        &mut self,
        old: Option<&Record>,
        new: &Record,
        at: DateTime<Utc>,
    ) -> Result<(), StatsError> {
        match new.kind {
            RecordKind::Message => {
                let message: Message = new.body()?;
                let before: Option<Message> = old.map(Record::body).transpose()?;
                let counts = match message.direction {
                    // Counted when Lisa files it: then its conversation and topic are known.
                    Direction::Inbound => {
                        message.conversation_id.is_some()
                            && before.is_none_or(|b| b.conversation_id.is_none())
                    }
                    // Counted at its first status from WhatsApp: then its billing is known.
                    Direction::Outbound => {
                        reported(message.delivery) && before.is_none_or(|b| !reported(b.delivery))
                    }
                    Direction::Internal => before.is_none(),
                };
                if counts {
                    self.message_events.push(message_event(&message));
                }
            }
            RecordKind::Conversation => {
                let conversation: Conversation = new.body()?;
                let before: Option<Conversation> = old.map(Record::body).transpose()?;
                let closes = conversation.state == ConversationState::Closed
                    && before.is_none_or(|b| b.state != ConversationState::Closed);
                if closes {
                    let ended = conversation.ended_at.unwrap_or(at);
                    let reason = conversation
                        .end_reason
                        .map_or("closed".to_owned(), wire_name);
                    self.conversations
                        .push(conversation_row(&conversation, ended, reason));
                }
            }
            RecordKind::SurveyAnswer => {
                let answer: SurveyAnswer = new.body()?;
                let before: Option<SurveyAnswer> = old.map(Record::body).transpose()?;
                if answer.complete && before.is_none_or(|b| !b.complete) {
                    self.survey_responses.push(SurveyResponseRow {
                        answered_at: minute(answer.answered_at),
                        channel: wire_name(answer.channel),
                        score: answer.score.map(i32::from),
                        solved: answer.solved,
                        has_comment: answer.comment.is_some_and(|c| !c.trim().is_empty()),
                        handed_over: answer.handed_over,
                    });
                }
            }
            RecordKind::CallbackRequest => {
                let request: CallbackRequest = new.body()?;
                let before: Option<CallbackRequest> = old.map(Record::body).transpose()?;
                if request.status == CallbackStatus::Done
                    && before.is_none_or(|b| b.status != CallbackStatus::Done)
                {
                    let done_at = request.done_at.unwrap_or(at);
                    self.callbacks
                        .push(callback_row(&request, "completed", done_at));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn removed(
        &mut self,
        old: &Record,
        reason: DeletionReason,
        at: DateTime<Utc>,
    ) -> Result<(), StatsError> {
        *self
            .deletions
            .entry((hour(at), old.retention, reason))
            .or_default() += 1;
        let end = match reason {
            DeletionReason::Erasure => "erased",
            _ => "expired",
        };
        match old.kind {
            RecordKind::Conversation => {
                let conversation: Conversation = old.body()?;
                if conversation.state != ConversationState::Closed {
                    let ended = conversation.last_activity_at;
                    self.conversations
                        .push(conversation_row(&conversation, ended, end.to_owned()));
                }
            }
            RecordKind::CallbackRequest => {
                let request: CallbackRequest = old.body()?;
                if request.status != CallbackStatus::Done {
                    self.callbacks.push(callback_row(&request, end, at));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Why a REMOVE happened, from the stream record alone: TTL names itself; a deletion at or
/// after the deadline is the sweeper's; before it, either the purpose was fulfilled (as the
/// old image shows) or the contact asked to be forgotten.
fn deletion_reason(record: &EventRecord, old: &Record) -> Result<DeletionReason, StatsError> {
    if crate::ports::store::is_ttl_removal(record) {
        return Ok(DeletionReason::Ttl);
    }
    if old.is_expired_at(record.change.approximate_creation_date_time) {
        return Ok(DeletionReason::Sweeper);
    }
    let fulfilled = match old.kind {
        RecordKind::CallbackRequest => {
            old.body::<CallbackRequest>()?.status == CallbackStatus::Done
        }
        RecordKind::SurveySession => old.body::<SurveySession>()?.finished,
        // The sales list's entry goes when its request is done. (An erasure takes it too; its
        // old image cannot tell, so that one pointer counts as fulfilled: no personal data.)
        RecordKind::OpenCallback => true,
        _ => false,
    };
    Ok(if fulfilled {
        DeletionReason::PurposeFulfilled
    } else {
        DeletionReason::Erasure
    })
}

/// Whether writing an item of this kind can make a row ([`Rows::changed`] reads these only).
fn counted_when_written(kind: RecordKind) -> bool {
    matches!(
        kind,
        RecordKind::Message
            | RecordKind::Conversation
            | RecordKind::SurveyAnswer
            | RecordKind::CallbackRequest
    )
}

fn image(item: &serde_dynamo::Item) -> Result<Option<Record>, StatsError> {
    if item.is_empty() {
        return Ok(None);
    }
    Ok(Some(Record::from_item(item)?))
}

/// UTC, cut to the minute.
fn minute(at: DateTime<Utc>) -> NaiveDateTime {
    at.duration_trunc(TimeDelta::minutes(1))
        .unwrap_or(at)
        .naive_utc()
}

/// UTC, cut to the hour.
fn hour(at: DateTime<Utc>) -> NaiveDateTime {
    at.duration_trunc(TimeDelta::hours(1))
        .unwrap_or(at)
        .naive_utc()
}

fn message_event(message: &Message) -> MessageEventRow {
    let facts = message.facts.as_ref();
    MessageEventRow {
        event_time: minute(message.at),
        channel: wire_name(crate::domain::Channel::Whatsapp),
        direction: wire_name(message.direction),
        actor: wire_name(message.actor),
        message_type: wire_name(message.message_type),
        conversation_mode: facts.map(|f| wire_name(f.mode)),
        topic: facts.and_then(|f| f.topic.clone()),
        response_seconds: facts.and_then(|f| f.response_seconds),
        pricing_category: message.pricing.as_ref().and_then(|p| p.category.clone()),
        pricing_type: message.pricing.as_ref().and_then(|p| p.kind.clone()),
        understood: facts
            .and_then(|f| f.understood.as_ref())
            .map(|u| u.how.as_str().to_owned()),
        sent_to_review: (message.direction == crate::domain::Direction::Inbound)
            .then(|| facts.is_some_and(|f| f.sent_to_review)),
    }
}

/// Whether WhatsApp has reported on an outbound message (or it failed before reaching it).
fn reported(delivery: DeliveryStatus) -> bool {
    matches!(
        delivery,
        DeliveryStatus::Sent
            | DeliveryStatus::Delivered
            | DeliveryStatus::Read
            | DeliveryStatus::Failed
    )
}

fn conversation_row(
    conversation: &Conversation,
    ended: DateTime<Utc>,
    end_reason: String,
) -> ConversationRow {
    ConversationRow {
        started_at: minute(conversation.started_at),
        ended_at: minute(ended),
        duration_seconds: (ended - conversation.started_at).num_seconds().max(0),
        channel: wire_name(conversation.channel),
        customer_messages: conversation.customer_messages.into(),
        bot_messages: conversation.bot_messages.into(),
        agent_messages: conversation.agent_messages.into(),
        dialogs: conversation.dialogs.into(),
        handed_over: conversation.handed_over,
        authenticated: conversation.authenticated,
        contact_kind: wire_name(conversation.contact_kind),
        end_reason,
    }
}

fn callback_row(request: &CallbackRequest, outcome: &str, at: DateTime<Utc>) -> CallbackRow {
    let hours = (at - request.requested_at).num_seconds().max(0) as f64 / 3600.0;
    CallbackRow {
        requested_at: minute(request.requested_at),
        channel: wire_name(crate::domain::Channel::Voice),
        topic: request.topic.clone(),
        outcome: outcome.to_owned(),
        // A tenth of an hour is precise enough and no finer than the minute-cut times.
        hours_to_outcome: (hours * 10.0).round() / 10.0,
    }
}

/// One Parquet file (snappy-compressed, one row group) of `rows`.
pub fn to_parquet<'a, T>(rows: &'a [T]) -> Result<Vec<u8>, StatsError>
where
    &'a [T]: RecordWriter<T>,
{
    let schema = rows.schema()?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by("servicekanal stats-export".to_owned())
        .build();
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, Arc::new(properties))?;
    if !rows.is_empty() {
        let mut row_group = writer.next_row_group()?;
        rows.write_to_row_group(&mut row_group)?;
        row_group.close()?;
    }
    Ok(writer.into_inner()?)
}

/// The rows of a Parquet file as JSON objects (column name to value): what the local stack
/// shows and the tests read back.
pub fn read_rows(bytes: Vec<u8>) -> Result<Vec<serde_json::Value>, StatsError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes))?;
    reader
        .get_row_iter(None)?
        .map(|row| Ok(row?.to_json_value()))
        .collect()
}

/// A table's Parquet file of a batch; `None` when the table has no rows in it.
pub type TableFile = (Table, Option<Vec<u8>>);

/// Every table's Parquet file for one batch; `None` for a table without rows, whose object of
/// the batch is deleted instead: a retried or bisected batch then replaces all of its earlier
/// objects, never leaving one behind, and no empty file is written.
pub fn parquet_files(rows: &Rows) -> Result<Vec<TableFile>, StatsError> {
    fn file<'a, R>(rows: &'a [R]) -> Result<Option<Vec<u8>>, StatsError>
    where
        &'a [R]: RecordWriter<R>,
    {
        if rows.is_empty() {
            Ok(None)
        } else {
            to_parquet(rows).map(Some)
        }
    }
    Ok(vec![
        (Table::MessageEvents, file(&rows.message_events)?),
        (Table::Conversations, file(&rows.conversations)?),
        (Table::SurveyResponses, file(&rows.survey_responses)?),
        (Table::Callbacks, file(&rows.callbacks)?),
        (Table::Deletions, file(&rows.deletions())?),
    ])
}

/// Where a batch's file of `table` goes: `<table>/dt=<day>/<first sequence number>.parquet`.
/// The day is the day the batch's first change happened; the name depends on the batch alone,
/// so a retry overwrites.
pub fn object_key(table: Table, day: NaiveDate, first_sequence_number: &str) -> String {
    format!(
        "{}/dt={}/{}.parquet",
        table.name(),
        day.format("%Y-%m-%d"),
        first_sequence_number
    )
}
