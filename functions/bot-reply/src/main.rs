//! Lambda entry point: builds the ports once per cold start and serves the handler.

use aws_lambda_events::event::sqs::SqsEvent;
use bot_reply::{BotConfig, Ports, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use servicekanal_shared::clock::SystemClock;
use servicekanal_shared::directory::DynamoDirectory;
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::dialogue::{Lisa, LisaConfig, Texts};
use servicekanal_shared::queue::sqs::SqsQueue;
use servicekanal_shared::runtime::{lambda_basics, required_env};
use servicekanal_shared::store::dynamodb::DynamoStore;
use servicekanal_shared::whatsapp::graph::{GraphApi, GraphApiConfig};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let basics = lambda_basics().await?;
    let lookup = |name: &str| std::env::var(name).ok();
    let clock = Arc::new(SystemClock);
    let dynamodb = aws_sdk_dynamodb::Client::new(&basics.aws);
    let sqs = aws_sdk_sqs::Client::new(&basics.aws);
    let queue = |var: &str| -> Result<Arc<SqsQueue>, Error> {
        Ok(Arc::new(SqsQueue::new(sqs.clone(), required_env(var)?)))
    };
    let ports = Ports {
        store: Arc::new(DynamoStore::new(
            dynamodb.clone(),
            required_env("TABLE_NAME")?,
            clock.clone(),
        )),
        whatsapp: Arc::new(GraphApi::new(GraphApiConfig::new(
            required_env("WHATSAPP_PHONE_NUMBER_ID")?,
            basics.secrets.access_token,
        ))?),
        directory: Arc::new(DynamoDirectory::new(
            dynamodb,
            required_env("CUSTOMERS_TABLE_NAME")?,
        )),
        desk_queue: queue("HANDOVER_QUEUE_URL")?,
        closed_queue: queue("CLOSED_QUEUE_URL")?,
        timer_queue: queue("TIMER_QUEUE_URL")?,
        survey_queue: queue("SURVEY_QUEUE_URL")?,
        clock,
        pseudonymizer: basics.pseudonymizer,
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
