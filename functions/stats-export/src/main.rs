//! Lambda entry point: builds the bucket client once per cold start and serves the handler.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use servicekanal_shared::ports::objects::s3::S3Bucket;
use servicekanal_shared::runtime::{Deferred, Env, lambda_aws};
use stats_export::{Environment, Ports, handle};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let process = Env::process();
    let env = Environment::read(&process)?;
    let aws = lambda_aws(&process)?;
    // The client's TLS set-up runs with the first batch, not before the runtime's start.
    let ports = Deferred::new(move || {
        let (aws, bucket) = (aws.clone(), env.stats_bucket.clone());
        async move {
            Ok(Ports {
                objects: Arc::new(S3Bucket::new(aws_sdk_s3::Client::new(&aws), bucket)),
            })
        }
    });
    let ports = &ports;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(handle(event.payload, ports.get().await?).await?)
    }))
    .await
}
