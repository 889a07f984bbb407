//! Lambda entry point: builds the ports once per cold start and serves the handler.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use servicekanal_shared::clock::SystemClock;
use servicekanal_shared::runtime::{lambda_basics, required_env};
use servicekanal_shared::store::dynamodb::DynamoStore;
use servicekanal_shared::survey::SurveyTexts;
use servicekanal_shared::whatsapp::graph::{GraphApi, GraphApiConfig};
use std::sync::Arc;
use survey::{Ports, SurveyConfig, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let basics = lambda_basics().await?;
    let clock = Arc::new(SystemClock);
    let ports = Ports {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&basics.aws),
            required_env("TABLE_NAME")?,
            clock.clone(),
        )),
        whatsapp: Arc::new(GraphApi::new(GraphApiConfig::new(
            required_env("WHATSAPP_PHONE_NUMBER_ID")?,
            basics.secrets.access_token,
        ))?),
        clock,
        pseudonymizer: basics.pseudonymizer,
        texts: SurveyTexts::embedded(),
        config: SurveyConfig::from_lookup(|name| std::env::var(name).ok())?,
    };
    let ports = &ports;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle(event.payload, ports).await)
    }))
    .await
}
