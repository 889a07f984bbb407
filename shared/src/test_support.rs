//! Helpers for tests of every crate (feature `test-support`): the SDK config for moto's
//! server, and a log capture to check that no personal data reaches the logs.

use aws_config::BehaviorVersion;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

/// Where `scripts/test` tells the tests moto's server listens.
pub const MOTO_URL_VAR: &str = "SERVICEKANAL_MOTO_URL";

/// The SDK config for moto's server: its endpoint, fixed test keys, eu-central-1.
pub async fn moto_config() -> aws_config::SdkConfig {
    let url = std::env::var(MOTO_URL_VAR).unwrap_or_else(|_| {
        panic!("{MOTO_URL_VAR} is not set: run scripts/test, which starts moto's server")
    });
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("eu-central-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

/// A fresh, uniquely named table in moto, shaped like template.yaml's.
pub async fn moto_table(config: &aws_config::SdkConfig) -> (aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(config);
    let table = format!(
        "servicekanal-test-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    crate::store::dynamodb::create_table(&client, &table)
        .await
        .expect("table created in moto");
    (client, table)
}

/// A fresh customer table in moto (the CRM stand-in), seeded with the demo customers.
pub async fn moto_customer_table(
    config: &aws_config::SdkConfig,
) -> (aws_sdk_dynamodb::Client, String) {
    use crate::directory::{DemoDirectory, DynamoDirectory};
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
        ScalarAttributeType,
    };
    let client = aws_sdk_dynamodb::Client::new(config);
    let table = format!("customers-{}", ulid::Ulid::new().to_string().to_lowercase());
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(DynamoDirectory::NUMBER)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(DynamoDirectory::NUMBER)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("customer table created in moto");
    for customer in DemoDirectory::demo().customers() {
        client
            .put_item()
            .table_name(&table)
            .item(
                DynamoDirectory::NUMBER,
                AttributeValue::S(customer.customer_number.clone()),
            )
            .item(
                DynamoDirectory::PASSWORD_HASH,
                AttributeValue::S(customer.password_hash.clone()),
            )
            .item(
                DynamoDirectory::CUSTOMER_REF,
                AttributeValue::S(format!("CRM-{}", customer.customer_number)),
            )
            .send()
            .await
            .expect("customer seeded");
    }
    (client, table)
}

/// A fresh, uniquely named queue in moto (FIFO when `fifo`); returns the client and its URL.
pub async fn moto_queue(
    config: &aws_config::SdkConfig,
    prefix: &str,
    fifo: bool,
) -> (aws_sdk_sqs::Client, String) {
    let client = aws_sdk_sqs::Client::new(config);
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    let mut request = client.create_queue();
    if fifo {
        request = request
            .queue_name(format!("{prefix}-{suffix}.fifo"))
            .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    } else {
        request = request.queue_name(format!("{prefix}-{suffix}"));
    }
    let url = request
        .send()
        .await
        .expect("queue created in moto")
        .queue_url
        .expect("moto returns the queue URL");
    (client, url)
}

/// Collects log output in memory (JSON lines, as in Lambda).
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Captures the logs of the current thread, JSON at debug level, until the guard drops.
    pub fn start(&self) -> tracing::subscriber::DefaultGuard {
        self.start_with(&crate::telemetry::LogSettings {
            format: crate::telemetry::LogFormat::Json,
            filter: "debug".into(),
        })
    }

    /// Captures with the given settings (format and level), as a function would log.
    pub fn start_with(
        &self,
        settings: &crate::telemetry::LogSettings,
    ) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(crate::telemetry::subscriber(settings, self.clone()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}
