//! Helpers for the tests of every crate (a dev-dependency only, never in a Lambda): the SDK
//! config for moto's server and fresh tables, queues and buckets in it, the store harness that
//! runs a case on both adapters (`for_each_adapter!`), a store that fails on purpose, test
//! records, a stand-in for Amazon Connect's APIs, and a log capture to check that no personal data reaches the logs.

pub mod bench;
pub mod connect;
pub mod properties;

/// A POST of `payload` to `path`, signed with `app_secret` as WhatsApp signs its webhook calls.
pub fn signed_post(
    path: &str,
    payload: &impl serde::Serialize,
    app_secret: &str,
) -> lambda_http::Request {
    use servicekanal_shared::channels::whatsapp::payload::{SIGNATURE_HEADER, sign};
    let body = serde_json::to_vec(payload).expect("a payload serialises");
    lambda_http::http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, sign(app_secret.as_bytes(), &body))
        .body(lambda_http::Body::from(body))
        .expect("a request")
}

use servicekanal_shared::runtime::Env;
use servicekanal_shared::runtime::aws::{
    AWS_ACCESS_KEY_ID, AWS_REGION, AWS_SECRET_ACCESS_KEY, EnvEndpoints, sdk_config,
};
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

/// Where `scripts/test` tells the tests moto's server listens.
pub const MOTO_URL_VAR: &str = "SERVICEKANAL_MOTO_URL";

/// The SDK config for moto's server: its endpoint, fixed test keys, eu-central-1; built as
/// the functions build theirs, so every moto test sends through the functions' HTTPS client.
pub async fn moto_config() -> aws_config::SdkConfig {
    let url = std::env::var(MOTO_URL_VAR).unwrap_or_else(|_| {
        panic!("{MOTO_URL_VAR} is not set: run scripts/test, which starts moto's server")
    });
    let env = Env::from_lookup(|name| {
        match name {
            AWS_REGION => Some("eu-central-1"),
            AWS_ACCESS_KEY_ID | AWS_SECRET_ACCESS_KEY => Some("testing"),
            _ => None,
        }
        .map(str::to_owned)
    });
    let endpoints = EnvEndpoints::from_pairs([("AWS_ENDPOINT_URL".to_owned(), url)]);
    sdk_config(&env, endpoints).expect("region and keys are set")
}

/// The time on moto's server (its HTTP `Date`), whole seconds: moto stamps stream records
/// with its own clock, so a test that compares them with the injected clock starts there
/// (and not at this process's clock, which a test run may have moved, e.g. under faketime).
pub async fn moto_now() -> chrono::DateTime<chrono::Utc> {
    let url = std::env::var(MOTO_URL_VAR).expect("SERVICEKANAL_MOTO_URL is set");
    let response = reqwest::get(format!("{url}/moto-api/"))
        .await
        .expect("moto answers");
    let date = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|d| d.to_str().ok())
        .expect("moto sends a Date header");
    chrono::DateTime::parse_from_rfc2822(date)
        .expect("an HTTP date")
        .to_utc()
}

/// Creates the table as template.yaml declares it (for tests against moto).
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), servicekanal_shared::ports::store::StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, StreamSpecification,
        StreamViewType as SdkStreamViewType,
    };
    use servicekanal_shared::domain::keys::{EXPIRY_INDEX, HOLD_INDEX, OWNER_INDEX, attr};
    use servicekanal_shared::ports::store::StoreError;
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .map_err(|e| StoreError::Encode(e.to_string()))
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| StoreError::Encode(e.to_string()))
    };
    let expiry_index = GlobalSecondaryIndex::builder()
        .index_name(EXPIRY_INDEX)
        .key_schema(key(attr::EXPIRY_BUCKET, KeyType::Hash)?)
        .key_schema(key(attr::EXPIRES_AT, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .non_key_attributes(attr::RETENTION_CLASS)
                .build(),
        )
        .build()
        .map_err(|e| StoreError::Encode(e.to_string()))?;
    let owner_index = GlobalSecondaryIndex::builder()
        .index_name(OWNER_INDEX)
        .key_schema(key(attr::OWNER, KeyType::Hash)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(|e| StoreError::Encode(e.to_string()))?;
    let hold_index = GlobalSecondaryIndex::builder()
        .index_name(HOLD_INDEX)
        .key_schema(key(attr::HELD, KeyType::Hash)?)
        .key_schema(key(attr::HELD_AT, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(|e| StoreError::Encode(e.to_string()))?;
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(attr::PK, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(attr::SK, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(attr::EXPIRY_BUCKET, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(attr::EXPIRES_AT, ScalarAttributeType::N)?)
        .attribute_definitions(attribute(attr::OWNER, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(attr::HELD, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(attr::HELD_AT, ScalarAttributeType::S)?)
        .key_schema(key(attr::PK, KeyType::Hash)?)
        .key_schema(key(attr::SK, KeyType::Range)?)
        .global_secondary_indexes(expiry_index)
        .global_secondary_indexes(owner_index)
        .global_secondary_indexes(hold_index)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(SdkStreamViewType::NewAndOldImages)
                .build()
                .map_err(|e| StoreError::Encode(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| StoreError::Backend(format!("create table: {e:?}")))?;
    Ok(())
}

/// A fresh, uniquely named table in moto, shaped like template.yaml's.
pub async fn moto_table(config: &aws_config::SdkConfig) -> (aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(config);
    let table = format!(
        "servicekanal-test-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    create_table(&client, &table)
        .await
        .expect("table created in moto");
    (client, table)
}

/// A fresh customer table in moto (the CRM stand-in), seeded with the demo customers.
pub async fn moto_customer_table(
    config: &aws_config::SdkConfig,
) -> (aws_sdk_dynamodb::Client, String) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
        ScalarAttributeType,
    };
    use servicekanal_shared::ports::directory::{DemoDirectory, DynamoDirectory};
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
        self.start_with(&servicekanal_shared::runtime::telemetry::LogSettings {
            format: servicekanal_shared::runtime::telemetry::LogFormat::Json,
            filter: "debug".into(),
        })
    }

    /// Captures with the given settings (format and level), as a function would log.
    pub fn start_with(
        &self,
        settings: &servicekanal_shared::runtime::telemetry::LogSettings,
    ) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(servicekanal_shared::runtime::telemetry::subscriber(
            settings,
            self.clone(),
        ))
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

/// The rows of a Parquet file as JSON objects (column name to value).
pub fn parquet_rows(bytes: Vec<u8>) -> Vec<serde_json::Value> {
    servicekanal_shared::stats::read_rows(bytes).expect("a readable Parquet file")
}

/// The pseudonymizer of tests that do not care about the key.
pub fn test_pseudonymizer() -> servicekanal_shared::domain::keys::Pseudonymizer {
    servicekanal_shared::domain::keys::Pseudonymizer::new(
        b"servicekanal-test-pseudonym-key-0000".to_vec(),
    )
    .expect("long enough")
}

/// What Lisa leaves on an inbound message once she has decided on it (done): from then on the
/// webhook takes a redelivery of it for a duplicate.
pub async fn lisa_took(
    store: &dyn servicekanal_shared::ports::store::Store,
    message: &servicekanal_shared::domain::keys::ItemKey,
) {
    use servicekanal_shared::domain::{Handling, Message};
    let mut stored = store
        .load::<Message>(message)
        .await
        .expect("readable")
        .expect("stored");
    stored.body.handling = Some(Handling {
        done: true,
        ..Handling::default()
    });
    stored
        .into_write()
        .expect("encodable")
        .commit(store)
        .await
        .expect("written");
}

/// Realistic records of the classes outside a contact's partition, for store-level tests.
pub mod records {
    use chrono::{DateTime, Duration, Utc};
    use servicekanal_shared::domain::keys::ItemKey;
    use servicekanal_shared::domain::{CallbackRequest, CallbackStatus, Channel, SurveyAnswer};
    use servicekanal_shared::policy::retention::RetentionClass;
    use servicekanal_shared::ports::store::Record;
    use ulid::Ulid;

    pub fn survey_answer(at: DateTime<Utc>) -> Record {
        let answer = SurveyAnswer {
            id: Ulid::new(),
            channel: Channel::Whatsapp,
            answered_at: at,
            score: Some(4),
            solved: Some(true),
            comment: Some("Schnelle Hilfe".into()),
            handed_over: false,
            topics: vec!["bill".into()],
            complete: true,
        };
        Record::new(
            ItemKey::survey_answer(answer.id),
            &answer,
            RetentionClass::Survey13m,
            at,
        )
        .unwrap()
    }

    pub fn callback_request(contact_id: &str, at: DateTime<Utc>) -> Record {
        let request = CallbackRequest {
            connect_contact_id: contact_id.into(),
            reference: "RB-7K2Q".into(),
            phone: "+4915112345678".into(),
            name: Some("Max Muster".into()),
            topic: "tariff-advice".into(),
            window_start: at + Duration::hours(20),
            window_end: at + Duration::hours(22),
            requested_at: at,
            status: CallbackStatus::Open,
            done_at: None,
        };
        Record::new(
            ItemKey::callback_request(contact_id),
            &request,
            RetentionClass::Callback3m,
            at,
        )
        .unwrap()
    }
}

/// Runs every listed case, an `async fn(&mut Harness)`, once per store adapter: one test each
/// in `mod embedded` and in `mod dynamodb` (moto).
#[macro_export]
macro_rules! for_each_adapter {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let mut h = $crate::harness::embedded().await;
                    super::$case(&mut h).await;
                }
            )*
        }

        mod dynamodb {
            $(
                #[tokio::test]
                async fn $case() {
                    let mut h = $crate::harness::dynamodb().await;
                    super::$case(&mut h).await;
                }
            )*
        }
    };
}

/// A store of either adapter with a controllable clock and its change feed (the contract
/// suites and the exporter's tests run against both).
pub mod harness {
    use super::{moto_config, moto_table};
    use aws_lambda_events::event::dynamodb::EventRecord;
    use chrono::{DateTime, Utc};
    use servicekanal_shared::ports::clock::ManualClock;
    use servicekanal_shared::ports::store::dynamo_streams::DynamoChangeFeed;
    use servicekanal_shared::ports::store::dynamodb::DynamoStore;
    use servicekanal_shared::ports::store::embedded::EmbeddedStore;
    use servicekanal_shared::ports::store::{ChangeFeed, Store};
    use std::sync::Arc;

    pub struct Harness {
        pub store: Arc<dyn Store>,
        pub clock: ManualClock,
        pub feed: Box<dyn ChangeFeed>,
        pub embedded: Option<EmbeddedStore>,
        _dir: Option<tempfile::TempDir>,
    }

    impl Harness {
        /// Polls the feed until `expected` records arrived (streams may lag a moment), then once
        /// more to make sure nothing else follows.
        pub async fn drain_feed(&mut self, expected: usize) -> Vec<EventRecord> {
            let mut out = Vec::new();
            for _ in 0..50 {
                out.extend(self.feed.poll(1000).await.expect("feed readable"));
                if out.len() >= expected {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            out.extend(self.feed.poll(1000).await.expect("feed readable"));
            out
        }
    }

    /// A fixed, whole-second start time, so deadlines are exact.
    pub fn start_time() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    pub async fn embedded() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(start_time());
        let store = EmbeddedStore::open(dir.path(), Arc::new(clock.clone())).unwrap();
        Harness {
            store: Arc::new(store.clone()),
            clock,
            feed: Box::new(store.change_feed(None)),
            embedded: Some(store),
            _dir: Some(dir),
        }
    }

    pub async fn dynamodb() -> Harness {
        let config = moto_config().await;
        let (client, table) = moto_table(&config).await;
        let stream_arn = client
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .unwrap()
            .table
            .and_then(|t| t.latest_stream_arn)
            .expect("the table has a stream");
        let clock = ManualClock::new(start_time());
        let store = DynamoStore::new(client, &table, Arc::new(clock.clone()));
        let feed = DynamoChangeFeed::new(
            aws_sdk_dynamodbstreams::Client::new(&config),
            stream_arn,
            "eu-central-1",
        );
        Harness {
            store: Arc::new(store),
            clock,
            feed: Box::new(feed),
            embedded: None,
            _dir: None,
        }
    }
}

/// A fresh, uniquely named bucket in moto.
pub async fn moto_bucket(config: &aws_config::SdkConfig) -> (aws_sdk_s3::Client, String) {
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("stats-{}", ulid::Ulid::new().to_string().to_lowercase());
    client
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuCentral1)
                .build(),
        )
        .send()
        .await
        .expect("bucket created in moto");
    (client, bucket)
}

/// A store that fails chosen calls (moved to the shared crate: the local stack's fault switch
/// uses it too).
pub use servicekanal_shared::ports::store::faulty::FaultyStore;
