//! Lambda entry point: builds the store once per cold start and sweeps on every scheduled event.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use retention_sweeper::{Environment, Ports, SweepConfig, handle};
use servicekanal_shared::ports::clock::SystemClock;
use servicekanal_shared::runtime::{Deferred, Env, lambda_aws, table_store};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let process = Env::process();
    let env = Environment::read(&process)?;
    let config = SweepConfig::from_lookup(process.lookup())?;
    let aws = lambda_aws(&process)?;
    // The client's TLS set-up runs with the schedule's first event, not before the runtime's start.
    let ports = Deferred::new(move || {
        let (aws, table, config) = (aws.clone(), env.table_name.clone(), config.clone());
        async move {
            Ok(Ports {
                store: Arc::new(table_store(&aws, table)),
                clock: Arc::new(SystemClock),
                config,
            })
        }
    });
    let ports = &ports;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent>| async move {
            Ok::<_, Error>(handle(event, ports.get().await?).await?)
        },
    ))
    .await
}
