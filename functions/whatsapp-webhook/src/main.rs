//! Lambda entry point: builds the ports once per cold start and serves the handler.

use aws_config::BehaviorVersion;
use lambda_http::{Error, service_fn};
use servicekanal_shared::clock::SystemClock;
use servicekanal_shared::keys::Pseudonymizer;
use servicekanal_shared::queue::sqs::SqsQueue;
use servicekanal_shared::secrets::{Secrets, SecretsManagerSecrets};
use servicekanal_shared::store::dynamodb::DynamoStore;
use std::sync::Arc;
use whatsapp_webhook::{DEFAULT_MAX_BODY_BYTES, Ports, WebhookConfig, handle};

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    servicekanal_shared::telemetry::init();
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let secrets = SecretsManagerSecrets::new(
        aws_sdk_secretsmanager::Client::new(&aws),
        env("SECRETS_ARN")?,
    )
    .load()
    .await?;
    let clock = Arc::new(SystemClock);
    let ports = Ports {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            env("TABLE_NAME")?,
            clock.clone(),
        )),
        inbound_queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&aws),
            env("INBOUND_QUEUE_URL")?,
        )),
        clock,
        pseudonymizer: Pseudonymizer::new(secrets.pseudonym_key.expose().as_bytes().to_vec())?,
        config: WebhookConfig {
            app_secret: secrets.app_secret,
            verify_token: secrets.verify_token,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        },
    };
    let ports = &ports;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(handle(request, ports).await)
    }))
    .await
}
