//! Lambda entry point: builds the ports once per cold start and serves the handler.

use aws_lambda_events::event::sqs::SqsEvent;
use bot_reply::{BotConfig, Environment, Ports, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::dialogue::{Lisa, LisaConfig, Texts};
use servicekanal_shared::ports::clock::SystemClock;
use servicekanal_shared::ports::directory::DynamoDirectory;
use servicekanal_shared::ports::queue::sqs::SqsQueue;
use servicekanal_shared::runtime::{Env, lambda_basics, table_store};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let process = Env::process();
    let env = Environment::read(&process)?;
    let basics = lambda_basics(&env.secrets_arn).await?;
    let sqs = aws_sdk_sqs::Client::new(&basics.aws);
    let queue = |url: String| Arc::new(SqsQueue::new(sqs.clone(), url));
    let ports = Ports {
        store: Arc::new(table_store(&basics.aws, env.table_name)),
        whatsapp: Arc::new(basics.graph_api(&env.whatsapp)?),
        directory: Arc::new(DynamoDirectory::new(
            aws_sdk_dynamodb::Client::new(&basics.aws),
            env.customers_table_name,
        )),
        desk_queue: queue(env.handover_queue_url),
        closed_queue: queue(env.closed_queue_url),
        timer_queue: queue(env.timer_queue_url),
        survey_queue: queue(env.survey_queue_url),
        clock: Arc::new(SystemClock),
        pseudonymizer: basics.pseudonymizer,
        lisa: Arc::new(Lisa::new(
            Catalogue::embedded(),
            Texts::embedded(),
            LisaConfig::from_lookup(process.lookup()),
        )),
        config: BotConfig::from_lookup(process.lookup())?,
    };
    let ports = &ports;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle(event.payload, ports).await)
    }))
    .await
}
