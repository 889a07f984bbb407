//! Lambda entry point: builds the ports once per cold start and serves the handler.

use aws_lambda_events::event::sqs::SqsEvent;
use bot_reply::{BotConfig, Ports, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::dialogue::{Lisa, LisaConfig, Texts};
use servicekanal_shared::ports::clock::SystemClock;
use servicekanal_shared::ports::directory::DynamoDirectory;
use servicekanal_shared::ports::queue::sqs::SqsQueue;
use servicekanal_shared::runtime::{lambda_basics, required_env, table_store};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let basics = lambda_basics().await?;
    let lookup = |name: &str| std::env::var(name).ok();
    let sqs = aws_sdk_sqs::Client::new(&basics.aws);
    let queue = |var: &str| -> Result<Arc<SqsQueue>, Error> {
        Ok(Arc::new(SqsQueue::new(sqs.clone(), required_env(var)?)))
    };
    let ports = Ports {
        store: Arc::new(table_store(&basics.aws)?),
        whatsapp: Arc::new(basics.graph_api()?),
        directory: Arc::new(DynamoDirectory::new(
            aws_sdk_dynamodb::Client::new(&basics.aws),
            required_env("CUSTOMERS_TABLE_NAME")?,
        )),
        desk_queue: queue("HANDOVER_QUEUE_URL")?,
        closed_queue: queue("CLOSED_QUEUE_URL")?,
        timer_queue: queue("TIMER_QUEUE_URL")?,
        survey_queue: queue("SURVEY_QUEUE_URL")?,
        clock: Arc::new(SystemClock),
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
