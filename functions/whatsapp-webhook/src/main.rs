//! Lambda entry point: builds the ports once per cold start and serves the handler.

use lambda_http::{Error, service_fn};
use servicekanal_shared::ports::clock::SystemClock;
use servicekanal_shared::ports::queue::sqs::SqsQueue;
use servicekanal_shared::runtime::{lambda_basics, required_env, table_store};
use std::sync::Arc;
use whatsapp_webhook::{DEFAULT_MAX_BODY_BYTES, Ports, WebhookConfig, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let basics = lambda_basics().await?;
    let ports = Ports {
        store: Arc::new(table_store(&basics.aws)?),
        inbound_queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&basics.aws),
            required_env("INBOUND_QUEUE_URL")?,
        )),
        clock: Arc::new(SystemClock),
        pseudonymizer: basics.pseudonymizer,
        config: WebhookConfig {
            app_secret: basics.secrets.app_secret,
            verify_token: basics.secrets.verify_token,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        },
    };
    let ports = &ports;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(handle(request, ports).await)
    }))
    .await
}
