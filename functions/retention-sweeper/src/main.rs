//! Lambda entry point: builds the store once per cold start and sweeps on every scheduled event.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use retention_sweeper::{Ports, SweepConfig, handle};
use servicekanal_shared::ports::clock::SystemClock;
use servicekanal_shared::runtime::{lambda_aws, table_store};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let aws = lambda_aws().await;
    let ports = Ports {
        store: Arc::new(table_store(&aws)?),
        clock: Arc::new(SystemClock),
        config: SweepConfig::from_lookup(|name| std::env::var(name).ok())?,
    };
    let ports = &ports;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent>| async move {
            Ok::<_, Error>(handle(event, ports).await?)
        },
    ))
    .await
}
