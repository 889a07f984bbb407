//! Lambda entry point: builds the ports once per cold start and serves the handler.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use servicekanal_shared::domain::survey::SurveyTexts;
use servicekanal_shared::ports::clock::SystemClock;
use servicekanal_shared::runtime::{Env, lambda_basics, table_store};
use std::sync::Arc;
use survey::{Environment, Ports, SurveyConfig, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let process = Env::process();
    let env = Environment::read(&process)?;
    let basics = lambda_basics(&env.secrets_arn).await?;
    let ports = Ports {
        store: Arc::new(table_store(&basics.aws, env.table_name)),
        whatsapp: Arc::new(basics.graph_api(&env.whatsapp)?),
        clock: Arc::new(SystemClock),
        pseudonymizer: basics.pseudonymizer,
        texts: SurveyTexts::embedded(),
        config: SurveyConfig::from_lookup(process.lookup())?,
    };
    let ports = &ports;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle(event.payload, ports).await)
    }))
    .await
}
