//! Lambda entry point: builds the ports once per cold start and serves the handler.

use lambda_http::{Error, service_fn};
use servicekanal_shared::ports::clock::SystemClock;
use servicekanal_shared::ports::queue::sqs::SqsQueue;
use servicekanal_shared::runtime::{Deferred, Env, LambdaBasics, lambda_aws, table_store};
use std::sync::Arc;
use whatsapp_webhook::{DEFAULT_MAX_BODY_BYTES, Environment, Ports, WebhookConfig, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let process = Env::process();
    let env = Environment::read(&process)?;
    let aws = lambda_aws(&process)?;
    // The app secret and the pseudonym key are fetched by the first request.
    let ports = Deferred::new(move || {
        let (aws, env) = (aws.clone(), env.clone());
        async move {
            let basics = LambdaBasics::load(aws, &env.secrets_arn).await?;
            Ok(Ports {
                store: Arc::new(table_store(&basics.aws, env.table_name)),
                inbound_queue: Arc::new(SqsQueue::new(
                    aws_sdk_sqs::Client::new(&basics.aws),
                    env.inbound_queue_url,
                )),
                clock: Arc::new(SystemClock),
                pseudonymizer: basics.pseudonymizer,
                config: WebhookConfig {
                    app_secret: basics.secrets.app_secret,
                    verify_token: basics.secrets.verify_token,
                    max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                },
            })
        }
    });
    let ports = &ports;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(handle(request, ports.get().await?).await)
    }))
    .await
}
