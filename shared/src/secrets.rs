//! The `Secrets` port: the service's secrets, fetched once at cold start from AWS Secrets
//! Manager (one JSON secret) or, locally, from the environment. Values are wrapped in
//! [`Secret`] so they never show in logs or debug output.

use crate::mask::Secret;
use async_trait::async_trait;
use serde::Deserialize;

/// Environment variables of the local source, and the JSON fields of the AWS secret.
pub const FIELDS: [(&str, &str); 4] = [
    ("app_secret", "WHATSAPP_APP_SECRET"),
    ("verify_token", "WHATSAPP_VERIFY_TOKEN"),
    ("access_token", "WHATSAPP_ACCESS_TOKEN"),
    ("pseudonym_key", "SERVICEKANAL_PSEUDONYM_KEY"),
];

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
    for ((field, _), value) in FIELDS.iter().zip(values) {
        if value.expose().trim().is_empty() {
            return Err(SecretsError::Missing(field));
        }
    }
    Ok(secrets)
}

/// Secrets from environment variables (the local stack, tests).
pub struct EnvSecrets<F>(pub F);

impl EnvSecrets<fn(&str) -> Option<String>> {
    pub fn from_process() -> Self {
        EnvSecrets(|name| std::env::var(name).ok())
    }
}

#[async_trait]
impl<F> Secrets for EnvSecrets<F>
where
    F: Fn(&str) -> Option<String> + Send + Sync,
{
    async fn load(&self) -> Result<ServiceSecrets, SecretsError> {
        let get = |i: usize| {
            let (field, var) = FIELDS[i];
            (self.0)(var)
                .map(Secret)
                .ok_or(SecretsError::Missing(field))
        };
        check(ServiceSecrets {
            app_secret: get(0)?,
            verify_token: get(1)?,
            access_token: get(2)?,
            pseudonym_key: get(3)?,
        })
    }
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
        // serde's message names the field, never the value.
        let parsed: ServiceSecrets =
            serde_json::from_str(&text).map_err(|e| SecretsError::Malformed(e.to_string()))?;
        check(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> EnvSecrets<impl Fn(&str) -> Option<String> + Send + Sync> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EnvSecrets(move |k: &str| map.get(k).cloned())
    }

    #[tokio::test]
    async fn environment_source_reads_all_fields_and_hides_them() {
        let secrets = env(&[
            ("WHATSAPP_APP_SECRET", "app-secret-value"),
            ("WHATSAPP_VERIFY_TOKEN", "verify"),
            ("WHATSAPP_ACCESS_TOKEN", "token"),
            ("SERVICEKANAL_PSEUDONYM_KEY", "k"),
        ])
        .load()
        .await
        .unwrap();
        assert_eq!(secrets.app_secret.expose(), "app-secret-value");
        assert!(!format!("{secrets:?}").contains("app-secret-value"));
    }

    #[tokio::test]
    async fn a_missing_or_empty_field_is_named() {
        let err = env(&[("WHATSAPP_APP_SECRET", "a")])
            .load()
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret field verify_token is missing or empty"
        );
        let err = env(&[
            ("WHATSAPP_APP_SECRET", "a"),
            ("WHATSAPP_VERIFY_TOKEN", "v"),
            ("WHATSAPP_ACCESS_TOKEN", " "),
            ("SERVICEKANAL_PSEUDONYM_KEY", "k"),
        ])
        .load()
        .await
        .unwrap_err();
        assert!(matches!(err, SecretsError::Missing("access_token")));
    }
}
