//! The AWS configuration of a Lambda function, from what Lambda puts in its environment: the
//! region, the execution role's credentials and (locally) endpoint overrides. Lambda provides
//! nothing else, so the SDK's default chain (profile files, SSO, STS web identity, IMDS,
//! container credentials) would only cost cold-start time and binary size. Every SDK client
//! built from it shares one HTTPS client: the trusted roots (`tls`, compiled in, not read from
//! the system) are parsed and the TLS set-up is made once, not once per client.

use super::{Env, StartupError};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use std::sync::OnceLock;

pub const AWS_REGION: &str = "AWS_REGION";
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";

/// Logging, and the AWS configuration from the process environment.
pub fn lambda_aws(env: &Env) -> Result<SdkConfig, StartupError> {
    super::telemetry::init();
    sdk_config(env, EnvEndpoints::process())
}

/// The configuration from `env`; endpoint overrides from `endpoints`.
pub fn sdk_config(env: &Env, endpoints: EnvEndpoints) -> Result<SdkConfig, StartupError> {
    // Lambda sets the role's credentials once per execution environment; they stay valid for
    // its lifetime, so a fixed provider is what the default chain would have found.
    let credentials = Credentials::new(
        env.required(AWS_ACCESS_KEY_ID)?,
        env.required(AWS_SECRET_ACCESS_KEY)?,
        env.optional(AWS_SESSION_TOKEN).filter(|t| !t.is_empty()),
        None,
        "LambdaEnvironment",
    );
    Ok(SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(env.required(AWS_REGION)?))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(SharedHttpClient::new(LambdaHttpsClient::default()))
        .service_config(endpoints)
        .build())
}

/// The HTTPS client every SDK client of the configuration shares, set up when the first SDK
/// client is built (in the functions' `Deferred`), not on the way to the runtime's first
/// `next`: encoding the trust store's PEM takes about 0.2 ms.
#[derive(Debug, Default)]
struct LambdaHttpsClient(OnceLock<SharedHttpClient>);

impl LambdaHttpsClient {
    fn client(&self) -> &SharedHttpClient {
        self.0.get_or_init(|| {
            let trust = TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(super::tls::root_certificates_pem());
            let tls = TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .expect("the compiled-in roots are valid PEM (shared::runtime::tls tests)");
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(tls)
                .build_https()
        })
    }
}

impl HttpClient for LambdaHttpsClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.client().http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.client().validate_base_client_config(components, cfg)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.client().validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.client().connector_metadata()
    }
}

/// `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL`, as the SDK documents them (moto in
/// the benchmarks; unset in AWS).
#[derive(Clone, Debug, Default)]
pub struct EnvEndpoints {
    variables: Vec<(String, String)>,
}

impl EnvEndpoints {
    pub fn process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            variables: pairs
                .into_iter()
                .filter(|(name, value)| name.starts_with("AWS_ENDPOINT_URL") && !value.is_empty())
                .collect(),
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.variables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.clone())
    }
}

impl LoadServiceConfig for EnvEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_ascii_uppercase().replace(' ', "_");
        self.get(&format!("{}_{service}", key.env()))
            .or_else(|| self.get(key.env()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lambda_env(name: &str) -> Option<String> {
        match name {
            AWS_REGION => Some("eu-central-1".into()),
            AWS_ACCESS_KEY_ID => Some("ASIAEXAMPLE".into()),
            AWS_SECRET_ACCESS_KEY => Some("secret".into()),
            AWS_SESSION_TOKEN => Some("token".into()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn region_and_the_roles_credentials_come_from_the_environment() {
        use aws_credential_types::provider::ProvideCredentials;
        let config = sdk_config(&Env::from_lookup(lambda_env), EnvEndpoints::default()).unwrap();
        assert_eq!(config.region().unwrap().as_ref(), "eu-central-1");
        let credentials = config
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(credentials.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(credentials.session_token(), Some("token"));
        assert!(config.http_client().is_some(), "one client for all");
    }

    #[test]
    fn the_https_client_is_set_up_when_first_used_not_when_configured() {
        let https = LambdaHttpsClient::default();
        assert!(https.0.get().is_none(), "nothing encoded or parsed yet");
        assert_eq!(
            https.connector_metadata().map(|m| m.name().into_owned()),
            Some("hyper".to_owned())
        );
        assert!(https.0.get().is_some());
    }

    #[test]
    fn a_missing_region_or_key_is_named() {
        let without_region =
            Env::from_lookup(|name| (name != AWS_REGION).then(|| lambda_env(name)).flatten());
        assert!(matches!(
            sdk_config(&without_region, EnvEndpoints::default()),
            Err(StartupError::MissingEnv(name)) if name == AWS_REGION
        ));
    }

    #[test]
    fn a_service_endpoint_wins_over_the_global_one() {
        let endpoints = EnvEndpoints::from_pairs([
            (
                "AWS_ENDPOINT_URL".to_owned(),
                "http://127.0.0.1:5000".to_owned(),
            ),
            (
                "AWS_ENDPOINT_URL_CONNECT".to_owned(),
                "http://127.0.0.1:6000".to_owned(),
            ),
            ("HOME".to_owned(), "/root".to_owned()),
        ]);
        let key = |service| {
            ServiceConfigKey::builder()
                .service_id(service)
                .env("AWS_ENDPOINT_URL")
                .profile("endpoint_url")
                .build()
                .unwrap()
        };
        assert_eq!(
            endpoints.load_config(key("Connect")).as_deref(),
            Some("http://127.0.0.1:6000")
        );
        assert_eq!(
            endpoints.load_config(key("DynamoDB")).as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(EnvEndpoints::default().load_config(key("SQS")), None);
    }
}
