//! Lambda entry point: builds the ports once per cold start and serves the handler.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use servicekanal_shared::domain::survey::SurveyTexts;
use servicekanal_shared::ports::clock::SystemClock;
use servicekanal_shared::runtime::{Deferred, Env, LambdaBasics, lambda_aws, table_store};
use std::sync::Arc;
use survey::{Environment, Ports, SurveyConfig, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let process = Env::process();
    let env = Environment::read(&process)?;
    let config = SurveyConfig::from_lookup(process.lookup())?;
    let aws = lambda_aws(&process)?;
    // The access token and the pseudonym key are fetched by the first batch.
    let ports = Deferred::new(move || {
        let (aws, env, config) = (aws.clone(), env.clone(), config.clone());
        async move {
            let basics = LambdaBasics::load(aws, &env.secrets_arn).await?;
            Ok(Ports {
                store: Arc::new(table_store(&basics.aws, env.table_name)),
                whatsapp: Arc::new(basics.graph_api(&env.whatsapp)?),
                clock: Arc::new(SystemClock),
                pseudonymizer: basics.pseudonymizer,
                texts: SurveyTexts::embedded(),
                config,
            })
        }
    });
    let ports = &ports;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle(event.payload, ports.get().await?).await)
    }))
    .await
}
