//! The one HTTPS client of a function, for every call it makes: the SDK clients' (through
//! [`super::aws`]) and the Graph API's. hyper's HTTP/1.1 client with a connection pool, rustls
//! with ring, and Mozilla's root programme as compiled-in trust anchors (`webpki-roots`).
//!
//! Why not the SDK's own client and reqwest: each set up TLS of its own, and the SDK's trust
//! store takes only PEM, so at every cold start the 150 roots were encoded to PEM, decoded and
//! parsed again, on the cores the runtime was starting on (docs/performance.md#cold-start);
//! here the anchors are constants. One HTTP stack and one crypto library instead of two of
//! each also keeps the bootstraps small.

use aws_smithy_types::body::SdkBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

pub type BoxError = Box<dyn StdError + Send + Sync>;

/// How long connecting (TCP and the TLS handshake) may take: the SDK's default connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);
/// Idle connections are kept this long; a frozen Lambda's stale ones fail as [`HttpsError::Io`],
/// which callers retry.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// Connecting failed, or the connection broke: worth another try.
    #[error("connection failed: {0}")]
    Io(#[source] BoxError),
    /// The server closed the connection before its response was complete.
    #[error("incomplete response: {0}")]
    Incomplete(#[source] BoxError),
    /// The request could not be sent as built (a bug on our side, not worth a retry).
    #[error("request refused before sending: {0}")]
    Request(#[source] BoxError),
    #[error("HTTP error: {0}")]
    Other(#[source] BoxError),
}

impl HttpsError {
    fn classify(error: hyper_util::client::legacy::Error) -> Self {
        let is_connect = error.is_connect();
        let boxed: BoxError = Box::new(error);
        let hyper_error = find_source::<hyper::Error>(boxed.as_ref());
        let io_kind = find_source::<std::io::Error>(boxed.as_ref()).map(std::io::Error::kind);
        if io_kind == Some(std::io::ErrorKind::TimedOut) {
            return Self::Timeout(
                find_source::<ConnectTimedOut>(boxed.as_ref()).map_or(CONNECT_TIMEOUT, |t| t.0),
            );
        }
        match hyper_error {
            Some(e) if e.is_user() => Self::Request(boxed),
            Some(e) if e.is_incomplete_message() => Self::Incomplete(boxed),
            Some(e) if e.is_closed() || e.is_canceled() => Self::Io(boxed),
            _ if is_connect || io_kind.is_some() => Self::Io(boxed),
            _ => Self::Other(boxed),
        }
    }
}

fn find_source<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<E>() {
            return Some(found);
        }
        // An `io::Error`'s `source()` skips its payload, which may be the error looked for.
        next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|payload| payload as &(dyn StdError + 'static)),
            None => current.source(),
        };
    }
    None
}

/// Connecting took longer than its limit (hyper's own connect timeout covers only TCP).
#[derive(Debug, thiserror::Error)]
#[error("connecting took longer than {0:?}")]
struct ConnectTimedOut(Duration);

/// A connector whose connections (TCP and TLS) must be up within `limit`.
#[derive(Clone, Debug)]
struct ConnectWithin<C> {
    inner: C,
    limit: Duration,
}

impl<C> tower_service::Service<http::Uri> for ConnectWithin<C>
where
    C: tower_service::Service<http::Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    ConnectTimedOut(limit),
                )) as BoxError),
            }
        })
    }
}

/// A pooled HTTPS (and, for local endpoints, HTTP) client; cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpsClient {
    inner: Client<ConnectWithin<HttpsConnector<HttpConnector>>, SdkBody>,
}

impl HttpsClient {
    /// A client of its own (tests); functions share [`client`].
    pub fn new() -> Self {
        Self::connecting_within(CONNECT_TIMEOUT)
    }

    /// A client whose connections must be up within `limit`.
    pub fn connecting_within(limit: Duration) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(ConnectWithin {
                inner: connector,
                limit,
            });
        Self { inner }
    }

    /// Sends `request`; `timeout` bounds the wait for the response's head (the body is read
    /// by the caller).
    pub async fn send(
        &self,
        request: http::Request<SdkBody>,
        timeout: Option<Duration>,
    ) -> Result<http::Response<hyper::body::Incoming>, HttpsError> {
        let response = self.inner.request(request);
        let result = match timeout {
            Some(limit) => tokio::time::timeout(limit, response)
                .await
                .map_err(|_| HttpsError::Timeout(limit))?,
            None => response.await,
        };
        result.map_err(HttpsError::classify)
    }
}

impl Default for HttpsClient {
    fn default() -> Self {
        Self::new()
    }
}

/// The process's client, built on first use (in the functions' `Deferred`, by the first
/// event).
pub fn client() -> &'static HttpsClient {
    static CLIENT: OnceLock<HttpsClient> = OnceLock::new();
    CLIENT.get_or_init(HttpsClient::new)
}

/// TLS 1.2 and 1.3 with ring, trusting Mozilla's root programme (the `webpki-roots` users'
/// set, updated with the crate; docs/security.md).
pub fn tls_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn the_authorities_behind_aws_and_the_graph_api_are_trusted() {
        let config = tls_config();
        let anchors = webpki_roots::TLS_SERVER_ROOTS;
        assert!(anchors.len() > 100, "{} roots", anchors.len());
        // Amazon's roots (AWS endpoints) and DigiCert's (graph.facebook.com), by subject.
        for authority in [&b"Amazon Root CA 1"[..], b"DigiCert Global Root G2"] {
            assert!(
                anchors
                    .iter()
                    .any(|a| a.subject.windows(authority.len()).any(|w| w == authority)),
                "{} missing",
                String::from_utf8_lossy(authority)
            );
        }
        assert_eq!(
            config.crypto_provider().cipher_suites.len(),
            rustls::crypto::ring::default_provider().cipher_suites.len()
        );
    }

    async fn one_shot_server(reply: &'static [u8]) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 4096];
            let n = socket.read(&mut request).await.unwrap();
            request.truncate(n);
            if !reply.is_empty() {
                socket.write_all(reply).await.unwrap();
            }
            socket.shutdown().await.ok();
            request
        });
        (format!("http://{address}"), server)
    }

    /// The address of a server that takes one connection and then says nothing.
    async fn silent_server() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(socket);
        });
        address
    }

    fn post(url: &str, body: &str) -> http::Request<SdkBody> {
        http::Request::post(url)
            .header("content-type", "application/json")
            .body(SdkBody::from(body.to_owned()))
            .unwrap()
    }

    #[tokio::test]
    async fn sends_the_request_and_hands_back_the_response() {
        let (url, server) =
            one_shot_server(b"HTTP/1.1 201 Created\r\ncontent-length: 7\r\n\r\n{\"a\":1}").await;
        let response = HttpsClient::new()
            .send(post(&format!("{url}/x"), "{\"q\":2}"), None)
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"{\"a\":1}");
        let request = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(request.starts_with("POST /x HTTP/1.1\r\n"), "{request}");
        assert!(request.ends_with("{\"q\":2}"), "{request}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let error = HttpsClient::new()
            .send(post(&format!("http://{address}/"), "{}"), None)
            .await
            .unwrap_err();
        assert!(matches!(error, HttpsError::Io(_)), "{error:?}");
    }

    #[tokio::test]
    async fn a_connection_closed_without_an_answer_is_retryable() {
        let (url, _server) = one_shot_server(b"").await;
        let error = HttpsClient::new()
            .send(post(&url, "{}"), None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, HttpsError::Incomplete(_) | HttpsError::Io(_)),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let address = silent_server().await;
        let error = HttpsClient::new()
            .send(
                post(&format!("http://{address}/"), "{}"),
                Some(Duration::from_millis(100)),
            )
            .await
            .unwrap_err();
        assert!(matches!(error, HttpsError::Timeout(_)), "{error:?}");
    }

    #[tokio::test]
    async fn a_tls_handshake_that_never_completes_times_out() {
        // TCP is up, TLS never is.
        let address = silent_server().await;
        let error = HttpsClient::connecting_within(Duration::from_millis(100))
            .send(post(&format!("https://{address}/"), "{}"), None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, HttpsError::Timeout(limit) if limit == Duration::from_millis(100)),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn an_https_url_is_refused_by_a_server_not_speaking_tls() {
        // The TLS handshake runs (and fails) instead of sending the request in the clear.
        let (url, server) = one_shot_server(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let url = url.replace("http://", "https://");
        assert!(
            HttpsClient::new()
                .send(post(&url, "{}"), None)
                .await
                .is_err()
        );
        let first_bytes = server.await.unwrap();
        assert_eq!(first_bytes.first(), Some(&0x16), "a TLS handshake record");
    }
}
