//! The AWS configuration of a Lambda function, from what Lambda puts in its environment: the
//! region, the execution role's credentials and (locally) endpoint overrides. Lambda provides
//! nothing else, so the SDK's default chain (profile files, SSO, STS web identity, IMDS,
//! container credentials) would only cost cold-start time and binary size. Every SDK client
//! built from it sends through the function's one HTTPS client ([`super::https`]).

use super::https::HttpsError;
use super::{Env, StartupError};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use aws_types::SdkConfig;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use std::borrow::Cow;
use std::time::Duration;

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
        .http_client(SharedHttpClient::new(LambdaHttpsClient))
        .service_config(endpoints)
        .build())
}

/// The SDK clients' side of the function's one HTTPS client ([`super::https::client`], built
/// when the first SDK client sends: in the functions' `Deferred`, by the first event). The
/// connect timeout is the SDK's default ([`super::https::CONNECT_TIMEOUT`]); a read timeout of
/// a client's settings bounds the wait for each response.
#[derive(Debug)]
struct LambdaHttpsClient;

impl HttpClient for LambdaHttpsClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(SdkConnector {
            read_timeout: settings.read_timeout(),
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
    }
}

#[derive(Debug)]
struct SdkConnector {
    read_timeout: Option<Duration>,
}

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(error) => {
                return HttpConnectorFuture::ready(Err(ConnectorError::user(error.into())));
            }
        };
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = super::https::client()
                .send(request, read_timeout)
                .await
                .map_err(connector_error)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|error| ConnectorError::other(error.into(), None))
        })
    }
}

/// How the SDK's retry strategy sees a failed call: timeouts and broken connections are
/// retried, as with the SDK's own client.
fn connector_error(error: HttpsError) -> ConnectorError {
    match error {
        HttpsError::Timeout(_) => ConnectorError::timeout(error.into()),
        HttpsError::Io(_) => ConnectorError::io(error.into()),
        HttpsError::Incomplete(_) => {
            ConnectorError::other(error.into(), Some(ErrorKind::TransientError))
        }
        HttpsError::Request(_) => ConnectorError::user(error.into()),
        HttpsError::Other(_) => ConnectorError::other(error.into(), None),
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
    fn the_sdk_retries_what_the_https_client_reports_as_transient() {
        let io = || -> super::super::https::BoxError { "reset".into() };
        assert!(connector_error(HttpsError::Timeout(Duration::from_secs(1))).is_timeout());
        assert!(connector_error(HttpsError::Io(io())).is_io());
        assert_eq!(
            connector_error(HttpsError::Incomplete(io())).as_other(),
            Some(ErrorKind::TransientError)
        );
        assert!(connector_error(HttpsError::Request(io())).is_user());
        assert_eq!(connector_error(HttpsError::Other(io())).as_other(), None);
    }

    #[tokio::test]
    async fn an_sdk_client_sends_through_the_functions_https_client() {
        // A local endpoint that answers every call with a DynamoDB error: the SDK signed the
        // request, sent it through `SdkConnector`, and read the response back.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 8192];
            let n = socket.read(&mut request).await.unwrap();
            let body = br#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no such table"}"#;
            let head = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            socket.write_all(head.as_bytes()).await.unwrap();
            socket.write_all(body).await.unwrap();
            String::from_utf8_lossy(&request[..n]).into_owned()
        });
        let endpoints = EnvEndpoints::from_pairs([("AWS_ENDPOINT_URL".to_owned(), endpoint)]);
        let config = sdk_config(&Env::from_lookup(lambda_env), endpoints).unwrap();
        let error = aws_sdk_dynamodb::Client::new(&config)
            .describe_table()
            .table_name("missing")
            .send()
            .await
            .unwrap_err();
        assert!(
            error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()),
            "{error:?}"
        );
        let request = server.await.unwrap();
        assert!(request.starts_with("POST / HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("x-amz-target: DynamoDB_20120810.DescribeTable"));
        assert!(request.contains("authorization: AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/"));
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
