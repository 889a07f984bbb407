//! The SQS adapter of the `Queue` port.

use super::{OutgoingMessage, Queue, QueueError};
use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
    fifo: bool,
}

fn backend<E: ProvideErrorMetadata>(e: E) -> QueueError {
    QueueError::Backend(format!(
        "{}: {}",
        e.code().unwrap_or("sqs error"),
        e.message().unwrap_or("")
    ))
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            fifo: url.ends_with(".fifo"),
            client,
            url,
        }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, message: OutgoingMessage) -> Result<(), QueueError> {
        message.check(self.fifo)?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .set_delay_seconds(message.delay.map(|d| d.as_secs() as i32))
            .message_body(message.body)
            .set_message_group_id(message.group_id)
            .set_message_deduplication_id(message.dedup_id)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn receive(&self, max: usize) -> Result<Vec<SqsMessage>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(backend)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let mut sqs = SqsMessage::default();
                sqs.message_id = m.message_id;
                sqs.receipt_handle = m.receipt_handle;
                sqs.body = m.body;
                sqs.md5_of_body = m.md5_of_body;
                sqs.attributes = m
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v))
                    .collect::<HashMap<_, _>>();
                sqs.event_source = Some("aws:sqs".into());
                sqs
            })
            .collect())
    }

    async fn acknowledge(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn release(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}
