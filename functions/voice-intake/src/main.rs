//! Lambda entry point: builds the ports once per cold start and serves the handler.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use servicekanal_shared::domain::callback::CallbackCatalogue;
use servicekanal_shared::ports::clock::SystemClock;
use servicekanal_shared::ports::queue::sqs::SqsQueue;
use servicekanal_shared::runtime::{Deferred, Env, LambdaBasics, lambda_aws, table_store};
use std::sync::Arc;
use voice_intake::{Environment, Ports, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let process = Env::process();
    let env = Environment::read(&process)?;
    let aws = lambda_aws(&process)?;
    // The secret's pseudonym key names the caller as the owner of their request; it is
    // fetched by the first contact-flow event.
    let ports = Deferred::new(move || {
        let (aws, env) = (aws.clone(), env.clone());
        async move {
            let basics = LambdaBasics::load(aws, &env.secrets_arn).await?;
            Ok(Ports {
                store: Arc::new(table_store(&basics.aws, env.table_name)),
                sales_queue: Arc::new(SqsQueue::new(
                    aws_sdk_sqs::Client::new(&basics.aws),
                    env.sales_queue_url,
                )),
                clock: Arc::new(SystemClock),
                catalogue: CallbackCatalogue::embedded(),
                pseudonymizer: basics.pseudonymizer,
            })
        }
    });
    let ports = &ports;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            handle(event.payload, ports.get().await?)
                .await
                .map_err(Error::from)
        },
    ))
    .await
}
