//! Ports whose construction needs the network (the service secret's `GetSecretValue`): started
//! at cold start, awaited by the first event. The runtime asks for its first event without
//! waiting on a round trip, and the fetch runs while that event is on its way.

use super::StartupError;
use futures::future::BoxFuture;
use std::future::Future;
use std::sync::Mutex;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

type Build<T> = Box<dyn Fn() -> BoxFuture<'static, Result<T, StartupError>> + Send + Sync>;

/// A value built in the background from cold start on; built again by the next event if the
/// attempt failed (as a failed init would be retried by Lambda).
pub struct Deferred<T> {
    ready: OnceCell<T>,
    first_attempt: Mutex<Option<JoinHandle<Result<T, StartupError>>>>,
    build: Build<T>,
}

impl<T: Send + Sync + 'static> Deferred<T> {
    /// Starts the first attempt now, on the runtime's worker threads.
    pub fn start<F, Fut>(build: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, StartupError>> + Send + 'static,
    {
        let build: Build<T> = Box::new(move || Box::pin(build()));
        let first_attempt = tokio::spawn(build());
        Self {
            ready: OnceCell::new(),
            first_attempt: Mutex::new(Some(first_attempt)),
            build,
        }
    }

    /// The value, once built; the error of this attempt otherwise (logged).
    pub async fn get(&self) -> Result<&T, StartupError> {
        self.ready
            .get_or_try_init(|| async {
                let first = self
                    .first_attempt
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .take();
                let built = match first {
                    Some(attempt) => attempt
                        .await
                        .map_err(|e| StartupError::Interrupted(e.to_string()))
                        .and_then(|built| built),
                    None => (self.build)().await,
                };
                if let Err(error) = &built {
                    tracing::error!(%error, "the function's ports could not be built");
                }
                built
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn built_once_in_the_background_and_shared() {
        let attempts = Arc::new(AtomicUsize::new(0));
        let counted = attempts.clone();
        let deferred = Deferred::start(move || {
            let counted = counted.clone();
            async move { Ok(counted.fetch_add(1, Ordering::SeqCst) + 1) }
        });
        tokio::task::yield_now().await;
        assert_eq!(*deferred.get().await.unwrap(), 1);
        assert_eq!(*deferred.get().await.unwrap(), 1);
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_attempt_is_reported_and_the_next_event_tries_again() {
        let attempts = Arc::new(AtomicUsize::new(0));
        let counted = attempts.clone();
        let deferred = Deferred::start(move || {
            let attempt = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if attempt == 1 {
                    Err(StartupError::MissingEnv("SECRETS_ARN".into()))
                } else {
                    Ok(attempt)
                }
            }
        });
        let first = deferred.get().await.unwrap_err();
        assert_eq!(
            first.to_string(),
            "environment variable SECRETS_ARN is not set"
        );
        assert_eq!(*deferred.get().await.unwrap(), 2);
        assert_eq!(*deferred.get().await.unwrap(), 2);
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }
}
