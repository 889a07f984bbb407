//! The `ObjectStore` port: S3 in AWS, a local directory for the local stack. What the
//! statistics and Lisa's labelled examples need: put an object (overwriting), read it back,
//! list a prefix, delete one.

pub mod local;
pub mod s3;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("invalid object key {0:?}: use non-empty `/`-separated segments without `..`")]
    InvalidKey(String),
    #[error("object store failed: {0}")]
    Backend(String),
}

/// Refuses keys that S3 would take but a directory could not hold the same way (or that
/// would escape it): empty, absolute, with empty or `.`/`..` segments.
pub fn check_key(key: &str) -> Result<(), ObjectError> {
    let bad = key.is_empty()
        || key
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..");
    if bad {
        Err(ObjectError::InvalidKey(key.to_owned()))
    } else {
        Ok(())
    }
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing what was there.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), ObjectError>;

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError>;

    /// Every key under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError>;

    /// Removes an object; nothing happens if there is none.
    async fn delete(&self, key: &str) -> Result<(), ObjectError>;
}
