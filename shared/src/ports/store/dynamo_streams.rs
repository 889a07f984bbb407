//! The table's change feed read directly through the DynamoDB Streams API (feature
//! `streams`): what the tests use to see, on moto, the stream events Lambda would deliver.
//! In AWS the stream reaches stats-export through its event source mapping instead.

use super::{ChangeFeed, StoreError};
use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{EventRecord, StreamRecord, StreamViewType, UserIdentity};
use aws_sdk_dynamodbstreams::error::ProvideErrorMetadata;
use chrono::DateTime;
use serde_dynamo::Item;
use std::collections::HashMap;

/// Reads a table's stream through the DynamoDB Streams API, shard by shard from the oldest
/// record kept, and hands out the records as a Lambda stream event would.
pub struct DynamoChangeFeed {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Open shard iterators, by shard id; `None` once a shard is closed and read to its end.
    iterators: Option<HashMap<String, Option<String>>>,
    region: String,
}

impl DynamoChangeFeed {
    pub fn new(
        client: aws_sdk_dynamodbstreams::Client,
        stream_arn: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        Self {
            client,
            stream_arn: stream_arn.into(),
            iterators: None,
            region: region.into(),
        }
    }

    async fn open_shards(&self) -> Result<HashMap<String, Option<String>>, StoreError> {
        use aws_sdk_dynamodbstreams::types::ShardIteratorType;
        let description = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(streams_backend)?
            .stream_description
            .ok_or_else(|| StoreError::Backend("stream has no description".into()))?;
        let mut iterators = HashMap::new();
        for shard in description.shards.unwrap_or_default() {
            let Some(shard_id) = shard.shard_id else {
                continue;
            };
            let iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(&shard_id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(streams_backend)?
                .shard_iterator;
            iterators.insert(shard_id, iterator);
        }
        Ok(iterators)
    }

    fn convert(&self, record: aws_sdk_dynamodbstreams::types::Record) -> EventRecord {
        let mut event = EventRecord::default();
        event.aws_region = record.aws_region.unwrap_or_else(|| self.region.clone());
        event.event_id = record.event_id.unwrap_or_default();
        event.event_name = record
            .event_name
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default();
        event.event_source = record.event_source;
        event.event_version = record.event_version;
        event.event_source_arn = Some(self.stream_arn.clone());
        event.user_identity = record.user_identity.map(|identity| {
            let mut user = UserIdentity::default();
            user.type_ = identity.r#type.unwrap_or_default();
            user.principal_id = identity.principal_id.unwrap_or_default();
            user
        });
        if let Some(change) = record.dynamodb {
            let image = |m: Option<
                HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
            >| { m.map(Item::from).unwrap_or_default() };
            let mut stream = StreamRecord::default();
            stream.approximate_creation_date_time = change
                .approximate_creation_date_time
                .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                .unwrap_or_default();
            stream.keys = image(change.keys);
            stream.new_image = image(change.new_image);
            stream.old_image = image(change.old_image);
            stream.sequence_number = change.sequence_number;
            stream.size_bytes = change.size_bytes.unwrap_or_default();
            stream.stream_view_type = change.stream_view_type.map(|v| match v.as_str() {
                "NEW_IMAGE" => StreamViewType::NewImage,
                "OLD_IMAGE" => StreamViewType::OldImage,
                "KEYS_ONLY" => StreamViewType::KeysOnly,
                _ => StreamViewType::NewAndOldImages,
            });
            event.change = stream;
        }
        event
    }
}

fn streams_backend<E: aws_sdk_dynamodbstreams::error::ProvideErrorMetadata + std::fmt::Debug, R>(
    e: aws_sdk_dynamodbstreams::error::SdkError<E, R>,
) -> StoreError {
    StoreError::Backend(format!(
        "{}: {}",
        e.code().unwrap_or("streams error"),
        e.message().unwrap_or("")
    ))
}

#[async_trait]
impl ChangeFeed for DynamoChangeFeed {
    async fn poll(&mut self, max: usize) -> Result<Vec<EventRecord>, StoreError> {
        if self.iterators.is_none() {
            self.iterators = Some(self.open_shards().await?);
        }
        let mut shard_ids: Vec<String> = self
            .iterators
            .as_ref()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        shard_ids.sort();
        let mut out = Vec::new();
        for shard_id in shard_ids {
            let Some(Some(iterator)) = self
                .iterators
                .as_ref()
                .and_then(|m| m.get(&shard_id))
                .cloned()
            else {
                continue;
            };
            let remaining = max.saturating_sub(out.len());
            if remaining == 0 {
                break;
            }
            let page = self
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(remaining.min(1000) as i32)
                .send()
                .await
                .map_err(streams_backend)?;
            if let Some(iterators) = self.iterators.as_mut() {
                iterators.insert(shard_id, page.next_shard_iterator);
            }
            out.extend(
                page.records
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| self.convert(r)),
            );
        }
        Ok(out)
    }
}
