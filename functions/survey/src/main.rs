//! Lambda entry point: builds the ports once per cold start and serves the handler.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use servicekanal_shared::domain::survey::SurveyTexts;
use servicekanal_shared::ports::clock::SystemClock;
use servicekanal_shared::runtime::{lambda_basics, table_store};
use std::sync::Arc;
use survey::{Ports, SurveyConfig, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let basics = lambda_basics().await?;
    let ports = Ports {
        store: Arc::new(table_store(&basics.aws)?),
        whatsapp: Arc::new(basics.graph_api()?),
        clock: Arc::new(SystemClock),
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
