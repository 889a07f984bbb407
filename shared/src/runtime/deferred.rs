//! Ports whose construction needs the network (the service secret's `GetSecretValue`, the SDK
//! clients' TLS set-up): built by the first event that needs them. The runtime asks for its
//! first event after the process's own set-up only, and a cold start costs the same in all:
//! started at init instead, the construction ran beside the runtime's start on the same
//! cores, and the first event waited for it anyway (docs/performance.md, "Cold start").

use super::StartupError;
use std::future::Future;
use tokio::sync::OnceCell;

/// A value built on first use; built again by the next event if the attempt failed (as a
/// failed init would be retried by Lambda).
pub struct Deferred<T, F> {
    ready: OnceCell<T>,
    build: F,
}

impl<T, F, Fut> Deferred<T, F>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, StartupError>>,
{
    /// Nothing is built until the first [`Deferred::get`].
    pub fn new(build: F) -> Self {
        Self {
            ready: OnceCell::new(),
            build,
        }
    }

    /// The value, once built; the error of this attempt otherwise (logged). Concurrent
    /// callers share one attempt.
    pub async fn get(&self) -> Result<&T, StartupError> {
        self.ready
            .get_or_try_init(|| async {
                let built = (self.build)().await;
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
    async fn built_by_the_first_event_once_and_shared() {
        let attempts = Arc::new(AtomicUsize::new(0));
        let counted = attempts.clone();
        let deferred = Deferred::new(move || {
            let counted = counted.clone();
            async move { Ok(counted.fetch_add(1, Ordering::SeqCst) + 1) }
        });
        tokio::task::yield_now().await;
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            0,
            "nothing built before use"
        );
        let (first, second) = tokio::join!(deferred.get(), deferred.get());
        assert_eq!((*first.unwrap(), *second.unwrap()), (1, 1));
        assert_eq!(*deferred.get().await.unwrap(), 1);
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_attempt_is_reported_and_the_next_event_tries_again() {
        let attempts = Arc::new(AtomicUsize::new(0));
        let counted = attempts.clone();
        let deferred = Deferred::new(move || {
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
