//! Lambda entry point: builds the ports once per cold start and serves the handler.

use bot_reply::{BotConfig, DeskSettings, Environment, Ports, handle_event};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::dialogue::{Lisa, LisaConfig, Texts};
use servicekanal_shared::ports::clock::{SharedClock, SystemClock};
use servicekanal_shared::ports::desk::connect::{ConnectDesk, ConnectDeskConfig, DeskTexts};
use servicekanal_shared::ports::desk::{AgentDesk, QueueDesk};
use servicekanal_shared::ports::directory::DynamoDirectory;
use servicekanal_shared::ports::queue::sqs::SqsQueue;
use servicekanal_shared::ports::store::dynamodb::DynamoStore;
use servicekanal_shared::runtime::{Deferred, Env, LambdaBasics, lambda_aws};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let process = Env::process();
    let env = Environment::read(&process)?;
    let lisa_config = LisaConfig::from_lookup(process.lookup());
    let config = BotConfig::from_lookup(process.lookup())?;
    let aws = lambda_aws(&process)?;
    // The access token and the pseudonym key are fetched (and Lisa's model is decoded) by the
    // first batch.
    let ports = Deferred::new(move || {
        let (aws, env) = (aws.clone(), env.clone());
        let (lisa_config, config) = (lisa_config.clone(), config.clone());
        async move {
            let basics = LambdaBasics::load(aws, &env.secrets_arn).await?;
            // One client per service: each builds its TLS set-up (the trusted roots) once.
            let sqs = aws_sdk_sqs::Client::new(&basics.aws);
            let dynamodb = aws_sdk_dynamodb::Client::new(&basics.aws);
            let queue = |url: String| Arc::new(SqsQueue::new(sqs.clone(), url));
            let clock: SharedClock = Arc::new(SystemClock);
            let handover_queue: Arc<dyn AgentDesk> =
                Arc::new(QueueDesk::new(queue(env.handover_queue_url)));
            let desk: Arc<dyn AgentDesk> = match env.desk {
                DeskSettings::Queue => handover_queue.clone(),
                DeskSettings::Connect {
                    instance_id,
                    contact_flow_id,
                    streaming_topic_arn,
                    customer_name,
                } => Arc::new(ConnectDesk::new(
                    aws_sdk_connect::Client::new(&basics.aws),
                    aws_sdk_connectparticipant::Client::new(&basics.aws),
                    ConnectDeskConfig {
                        instance_id,
                        contact_flow_id,
                        streaming_topic_arn,
                        customer_name,
                        texts: DeskTexts::embedded(),
                    },
                    clock.clone(),
                )),
            };
            Ok(Ports {
                store: Arc::new(DynamoStore::new(
                    dynamodb.clone(),
                    env.table_name,
                    clock.clone(),
                )),
                whatsapp: Arc::new(basics.graph_api(&env.whatsapp)?),
                directory: Arc::new(DynamoDirectory::new(dynamodb, env.customers_table_name)),
                desk,
                desk_fallback: handover_queue,
                agent_actions_queue: queue(env.agent_actions_queue_url),
                closed_queue: queue(env.closed_queue_url),
                timer_queue: queue(env.timer_queue_url),
                survey_queue: queue(env.survey_queue_url),
                clock,
                pseudonymizer: basics.pseudonymizer,
                lisa: Arc::new(Lisa::new(
                    Catalogue::embedded(),
                    Texts::embedded(),
                    lisa_config,
                )),
                config,
            })
        }
    });
    let ports = &ports;
    // SQS batches from the three queues, and the chat streaming topic's SNS events.
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            handle_event(event.payload, ports.get().await?)
                .await
                .map_err(Error::from)
        },
    ))
    .await
}
