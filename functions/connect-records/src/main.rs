//! Lambda entry point: builds the Connect client once per cold start and serves the handler.

use aws_lambda_events::event::dynamodb::Event;
use connect_records::{Environment, Ports, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use servicekanal_shared::ports::contact_records::ConnectContactRecords;
use servicekanal_shared::runtime::{Deferred, Env, lambda_aws};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let process = Env::process();
    let env = Environment::read(&process)?;
    let aws = lambda_aws(&process)?;
    // The client's TLS set-up runs with the first batch, not before the runtime's start.
    let ports = Deferred::new(move || {
        let (aws, instance) = (aws.clone(), env.connect_instance_id.clone());
        async move {
            Ok(Ports {
                records: Arc::new(ConnectContactRecords::new(
                    aws_sdk_connect::Client::new(&aws),
                    instance,
                )),
            })
        }
    });
    let ports = &ports;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(handle(event.payload, ports.get().await?).await)
    }))
    .await
}
