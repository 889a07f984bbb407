//! The `Secrets` port: the service's secrets, fetched once per container (by its first event)
//! from AWS Secrets Manager (one JSON secret). Values are wrapped in [`Secret`] so they never
//! show in logs or debug output.

use crate::policy::mask::Secret;
use async_trait::async_trait;
use serde::Deserialize;

/// The JSON fields of the AWS secret.
pub const FIELDS: [&str; 4] = [
    "app_secret",
    "verify_token",
    "access_token",
    "pseudonym_key",
];

/// What the template puts into the secret's fields until ops set them (template.yaml's
/// `SecretStringTemplate`): refused like an empty field, so a stack whose secret was never
/// filled in accepts no webhook signed with a publicly known value.
pub const PLACEHOLDER: &str = "set-me";

#[derive(Clone, Debug, Deserialize)]
pub struct ServiceSecrets {
    /// Signs the webhook POSTs (`X-Hub-Signature-256`).
    pub app_secret: Secret<String>,
    /// Answers the webhook's GET verification.
    pub verify_token: Secret<String>,
    /// Bearer token for the Graph API.
    pub access_token: Secret<String>,
    /// Key of the contact pseudonyms (at least 32 bytes).
    pub pseudonym_key: Secret<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret field {0} is missing or empty")]
    Missing(&'static str),
    #[error("secret field {0} still has the template's placeholder: set it (docs/operations.md)")]
    Placeholder(&'static str),
    #[error("the secret is not a JSON object with the expected fields: {0}")]
    Malformed(String),
    #[error("secrets backend failed: {0}")]
    Backend(String),
}

#[async_trait]
pub trait Secrets: Send + Sync {
    async fn load(&self) -> Result<ServiceSecrets, SecretsError>;
}

fn check(secrets: ServiceSecrets) -> Result<ServiceSecrets, SecretsError> {
    let values = [
        &secrets.app_secret,
        &secrets.verify_token,
        &secrets.access_token,
        &secrets.pseudonym_key,
    ];
    for (field, value) in FIELDS.into_iter().zip(values) {
        if value.expose().trim().is_empty() {
            return Err(SecretsError::Missing(field));
        }
        if value.expose().trim() == PLACEHOLDER {
            return Err(SecretsError::Placeholder(field));
        }
    }
    Ok(secrets)
}

/// Secrets from one AWS Secrets Manager secret holding a JSON object with [`FIELDS`].
pub struct SecretsManagerSecrets {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerSecrets {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }
}

#[async_trait]
impl Secrets for SecretsManagerSecrets {
    async fn load(&self) -> Result<ServiceSecrets, SecretsError> {
        use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| {
                SecretsError::Backend(format!(
                    "{}: {}",
                    e.code().unwrap_or("secretsmanager error"),
                    e.message().unwrap_or("")
                ))
            })?;
        let text = out
            .secret_string
            .ok_or(SecretsError::Missing("SecretString"))?;
        parse(&text)
    }
}

/// The secret's JSON; serde's message names a missing field, never a value.
fn parse(text: &str) -> Result<ServiceSecrets, SecretsError> {
    let parsed: ServiceSecrets =
        serde_json::from_str(text).map_err(|e| SecretsError::Malformed(e.to_string()))?;
    check(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_field_is_named_without_its_neighbours_values() {
        let err = parse(
            r#"{"app_secret": "a-value", "verify_token": "v", "access_token": " ",
                "pseudonym_key": "k"}"#,
        )
        .unwrap_err();
        assert!(matches!(err, SecretsError::Missing("access_token")));
        assert_eq!(
            err.to_string(),
            "secret field access_token is missing or empty"
        );
    }

    #[test]
    fn the_templates_placeholder_is_refused() {
        let err = parse(
            r#"{"app_secret": "set-me", "verify_token": "v", "access_token": "t",
                "pseudonym_key": "k"}"#,
        )
        .unwrap_err();
        assert!(matches!(err, SecretsError::Placeholder("app_secret")));
    }
}
