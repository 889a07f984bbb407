//! Lambda entry point: builds the store once per cold start and sweeps on every scheduled event.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use retention_sweeper::{Environment, Ports, SweepConfig, handle};
use servicekanal_shared::ports::clock::SystemClock;
use servicekanal_shared::runtime::{Env, lambda_aws, table_store};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let process = Env::process();
    let env = Environment::read(&process)?;
    let aws = lambda_aws().await;
    let ports = Ports {
        store: Arc::new(table_store(&aws, env.table_name)),
        clock: Arc::new(SystemClock),
        config: SweepConfig::from_lookup(process.lookup())?,
    };
    let ports = &ports;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent>| async move {
            Ok::<_, Error>(handle(event, ports).await?)
        },
    ))
    .await
}
