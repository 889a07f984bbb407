//! Lambda entry point: builds the ports once per cold start and serves the handler.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use servicekanal_shared::domain::callback::CallbackCatalogue;
use servicekanal_shared::ports::clock::SystemClock;
use servicekanal_shared::ports::queue::sqs::SqsQueue;
use servicekanal_shared::runtime::{lambda_basics, required_env, table_store};
use std::sync::Arc;
use voice_intake::{Ports, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The secret's pseudonym key names the caller as the owner of their request.
    let basics = lambda_basics().await?;
    let ports = Ports {
        store: Arc::new(table_store(&basics.aws)?),
        sales_queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&basics.aws),
            required_env("SALES_QUEUE_URL")?,
        )),
        clock: Arc::new(SystemClock),
        catalogue: CallbackCatalogue::embedded(),
        pseudonymizer: basics.pseudonymizer,
    };
    let ports = &ports;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            handle(event.payload, ports).await.map_err(Error::from)
        },
    ))
    .await
}
