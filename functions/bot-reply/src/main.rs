//! Lambda entry point: builds the ports once per cold start and serves the handler.

use aws_config::BehaviorVersion;
use aws_lambda_events::event::sqs::SqsEvent;
use bot_reply::{BotConfig, Ports, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use servicekanal_shared::clock::SystemClock;
use servicekanal_shared::directory::DynamoDirectory;
use servicekanal_shared::keys::Pseudonymizer;
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::dialogue::{Lisa, LisaConfig, Texts};
use servicekanal_shared::queue::sqs::SqsQueue;
use servicekanal_shared::secrets::{Secrets, SecretsManagerSecrets};
use servicekanal_shared::store::dynamodb::DynamoStore;
use servicekanal_shared::whatsapp::graph::{GraphApi, GraphApiConfig};
use std::sync::Arc;

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    servicekanal_shared::telemetry::init();
    let lookup = |name: &str| std::env::var(name).ok();
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let secrets = SecretsManagerSecrets::new(
        aws_sdk_secretsmanager::Client::new(&aws),
        env("SECRETS_ARN")?,
    )
    .load()
    .await?;
    let clock = Arc::new(SystemClock);
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let ports = Ports {
        store: Arc::new(DynamoStore::new(
            dynamodb.clone(),
            env("TABLE_NAME")?,
            clock.clone(),
        )),
        whatsapp: Arc::new(GraphApi::new(GraphApiConfig::new(
            env("WHATSAPP_PHONE_NUMBER_ID")?,
            secrets.access_token,
        ))?),
        directory: Arc::new(DynamoDirectory::new(dynamodb, env("CUSTOMERS_TABLE_NAME")?)),
        desk_queue: Arc::new(SqsQueue::new(sqs.clone(), env("HANDOVER_QUEUE_URL")?)),
        closed_queue: Arc::new(SqsQueue::new(sqs.clone(), env("CLOSED_QUEUE_URL")?)),
        timer_queue: Arc::new(SqsQueue::new(sqs, env("TIMER_QUEUE_URL")?)),
        clock,
        pseudonymizer: Pseudonymizer::new(secrets.pseudonym_key.expose().as_bytes().to_vec())?,
        lisa: Arc::new(Lisa::new(
            Catalogue::embedded(),
            Texts::embedded(),
            LisaConfig::from_lookup(lookup),
        )),
        config: BotConfig::from_lookup(lookup)?,
    };
    let ports = &ports;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle(event.payload, ports).await)
    }))
    .await
}
