//! What every function's `main` does before serving: logging, the AWS configuration, the
//! service secret named by `SECRETS_ARN`, and the pseudonymizer keyed from it.

use crate::keys::{PseudonymError, Pseudonymizer};
use crate::secrets::{Secrets, SecretsError, SecretsManagerSecrets, ServiceSecrets};
use aws_config::{BehaviorVersion, SdkConfig};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Pseudonym(#[from] PseudonymError),
}

/// A setting the function cannot run without.
pub fn required_env(name: &str) -> Result<String, StartupError> {
    std::env::var(name).map_err(|_| StartupError::MissingEnv(name.to_owned()))
}

/// Built once per cold start, outside the handler.
pub struct LambdaBasics {
    pub aws: SdkConfig,
    pub secrets: ServiceSecrets,
    pub pseudonymizer: Pseudonymizer,
}

/// Logging and the AWS configuration, for functions that need no secrets.
pub async fn lambda_aws() -> SdkConfig {
    crate::telemetry::init();
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

pub async fn lambda_basics() -> Result<LambdaBasics, StartupError> {
    let aws = lambda_aws().await;
    let secrets = SecretsManagerSecrets::new(
        aws_sdk_secretsmanager::Client::new(&aws),
        required_env("SECRETS_ARN")?,
    )
    .load()
    .await?;
    let pseudonymizer = Pseudonymizer::new(secrets.pseudonym_key.expose().as_bytes().to_vec())?;
    Ok(LambdaBasics {
        aws,
        secrets,
        pseudonymizer,
    })
}
