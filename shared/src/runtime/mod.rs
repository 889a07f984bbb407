//! What every function's `main` does before serving: logging, the AWS configuration from the
//! environment Lambda provides, and (deferred to the first event) the service secret named by
//! `SECRETS_ARN` and the pseudonymizer keyed from it.

pub mod aws;
pub mod deferred;
pub mod env;
pub mod https;
pub mod telemetry;

pub use aws::lambda_aws;
pub use deferred::Deferred;
pub use env::Env;

use crate::channels::whatsapp::WhatsAppError;
use crate::channels::whatsapp::graph::{GraphApi, GraphApiConfig};
use crate::domain::keys::{PseudonymError, Pseudonymizer};
use crate::ports::clock::SystemClock;
use crate::ports::secrets::{Secrets, SecretsError, SecretsManagerSecrets, ServiceSecrets};
use crate::ports::store::dynamodb::DynamoStore;
use aws_types::SdkConfig;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    #[error("environment variable {name} has a value it cannot take: {value:?}")]
    Invalid { name: String, value: String },
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Pseudonym(#[from] PseudonymError),
    #[error(transparent)]
    WhatsApp(#[from] WhatsAppError),
}

/// The single table named `table`, read on the system clock.
pub fn table_store(aws: &SdkConfig, table: impl Into<String>) -> DynamoStore {
    DynamoStore::new(
        aws_sdk_dynamodb::Client::new(aws),
        table,
        std::sync::Arc::new(SystemClock),
    )
}

/// The service secret `id` (its ARN or name).
pub async fn service_secrets(aws: &SdkConfig, id: &str) -> Result<ServiceSecrets, SecretsError> {
    SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(aws), id)
        .load()
        .await
}

/// The pseudonymizer keyed from the secret's pseudonym key: the same pseudonyms everywhere.
pub fn pseudonymizer_of(secrets: &ServiceSecrets) -> Result<Pseudonymizer, PseudonymError> {
    Pseudonymizer::new(secrets.pseudonym_key.expose().as_bytes().to_vec())
}

/// What the functions that hold the service secret build their ports from (in a [`Deferred`],
/// so the secret's round trip is made by the first event, not during init).
pub struct LambdaBasics {
    pub aws: SdkConfig,
    pub secrets: ServiceSecrets,
    pub pseudonymizer: Pseudonymizer,
}

impl LambdaBasics {
    /// The service secret `secrets_arn` and the pseudonymizer keyed from it.
    pub async fn load(aws: SdkConfig, secrets_arn: &str) -> Result<Self, StartupError> {
        let secrets = service_secrets(&aws, secrets_arn).await?;
        let pseudonymizer = pseudonymizer_of(&secrets)?;
        Ok(Self {
            aws,
            secrets,
            pseudonymizer,
        })
    }

    /// The Graph API client for the business number, with the service's access token.
    pub fn graph_api(&self, settings: &WhatsAppSettings) -> Result<GraphApi, StartupError> {
        let mut config = GraphApiConfig::new(
            settings.phone_number_id.clone(),
            self.secrets.access_token.clone(),
        );
        if let Some(version) = &settings.api_version {
            config.api_version = crate::channels::whatsapp::graph::parse_api_version(version)?;
        }
        Ok(GraphApi::new(config))
    }
}

/// The business number the functions that send on WhatsApp use, and the Graph API version
/// (default: the one the code is written for).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhatsAppSettings {
    pub phone_number_id: String,
    pub api_version: Option<String>,
}

impl WhatsAppSettings {
    pub fn read(env: &Env) -> Result<Self, StartupError> {
        Ok(Self {
            phone_number_id: env.required(env::WHATSAPP_PHONE_NUMBER_ID)?,
            api_version: env.optional(crate::channels::whatsapp::graph::API_VERSION_ENV),
        })
    }
}
