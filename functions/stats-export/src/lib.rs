//! stats-export: reads a batch of the table's change stream and writes the anonymised rows
//! as Parquet, one object per table, under `dt=` partitions (see `servicekanal_shared::stats`).
//!
//! Exactly once per batch: the object names derive from the batch's first sequence number, so
//! a retried or bisected batch overwrites its own objects. A record that cannot be read (not
//! ours, damaged) is reported as the batch's failure: Lambda retries from it, a bounded number
//! of times, then hands the range to the on-failure queue. Rows of the records before it are
//! written, and a retry starting at it writes under its own name.

/// What the function reads from its environment at cold start (template.yaml sets it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub stats_bucket: String,
}

impl Environment {
    pub fn read(env: &Env) -> Result<Self, StartupError> {
        Ok(Self {
            stats_bucket: env.required(env::STATS_BUCKET)?,
        })
    }
}

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use servicekanal_shared::ports::objects::{ObjectError, ObjectStore};
use servicekanal_shared::runtime::{Env, StartupError, env};
use servicekanal_shared::stats::{self, Rows, StatsError, Table};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Ports {
    pub objects: Arc<dyn ObjectStore>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("stream record {0} has no sequence number")]
    NoSequenceNumber(String),
    #[error(transparent)]
    Stats(#[from] StatsError),
    #[error("cannot store the statistics: {0}")]
    Objects(#[from] ObjectError),
}

/// What one batch exported.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exported {
    /// Records turned into rows (all but a poison record and those after it).
    pub records: usize,
    pub rows: BTreeMap<Table, usize>,
    pub objects: Vec<String>,
    /// The sequence number of a record that could not be read, where a retry starts.
    pub poison: Option<String>,
}

fn sequence_number(record: &EventRecord) -> Result<&str, ExportError> {
    record
        .change
        .sequence_number
        .as_deref()
        .ok_or_else(|| ExportError::NoSequenceNumber(record.event_id.clone()))
}

/// Exports one batch. An error means nothing of the batch is safely stored: retry all of it.
pub async fn export(records: &[EventRecord], ports: &Ports) -> Result<Exported, ExportError> {
    let Some(first) = records.first() else {
        return Ok(Exported::default());
    };
    let first_sequence = sequence_number(first)?;
    let mut rows = Rows::default();
    let mut exported = Exported::default();
    for record in records {
        if let Err(error) = rows.add(record) {
            let sequence = sequence_number(record)?;
            // The error names the problem only (kinds, attributes), never an item's content.
            tracing::error!(
                sequence_number = sequence,
                event_name = %record.event_name,
                error = %error,
                poison_records = 1,
                "stream record cannot be anonymised; reported as the batch's failure"
            );
            exported.poison = Some(sequence.to_owned());
            break;
        }
        exported.records += 1;
    }
    if exported.records == 0 {
        return Ok(exported);
    }
    let day = first.change.approximate_creation_date_time.date_naive();
    for (table, file) in stats::parquet_files(&rows)? {
        let key = stats::object_key(table, day, first_sequence);
        match file {
            Some(bytes) => {
                ports.objects.put(&key, bytes).await?;
                exported.objects.push(key);
            }
            // A retry of a longer batch with the same first record may have written it.
            None => ports.objects.delete(&key).await?,
        }
    }
    exported.rows = rows.counts();
    tracing::info!(
        records = exported.records,
        message_events = exported.rows[&Table::MessageEvents],
        conversations = exported.rows[&Table::Conversations],
        survey_responses = exported.rows[&Table::SurveyResponses],
        callbacks = exported.rows[&Table::Callbacks],
        deletion_rows = exported.rows[&Table::Deletions],
        first_sequence_number = first_sequence,
        "statistics exported"
    );
    Ok(exported)
}

/// The Lambda handler: exports the batch and reports where a retry must start.
pub async fn handle(event: Event, ports: &Ports) -> Result<DynamoDbEventResponse, ExportError> {
    let mut response = DynamoDbEventResponse::default();
    let failed_at = match export(&event.records, ports).await {
        Ok(exported) => exported.poison,
        Err(e @ ExportError::NoSequenceNumber(_)) => return Err(e),
        Err(error) => {
            tracing::error!(error = %error, "statistics not stored; the whole batch is retried");
            event
                .records
                .first()
                .map(sequence_number)
                .transpose()?
                .map(str::to_owned)
        }
    };
    if let Some(sequence) = failed_at {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence);
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}
