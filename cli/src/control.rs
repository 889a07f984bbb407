//! The local stack's control API as the ops commands call it (`servicekanal callbacks`,
//! `erase`, `export`, `holds` without `--table`).

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A running `servicekanal dev`, by its base URL.
#[derive(Clone, Debug)]
pub struct ControlApi {
    pub base: String,
}

impl ControlApi {
    pub fn new(base: impl Into<String>) -> Self {
        Self { base: base.into() }
    }

    /// GETs `path`; the server's error message becomes ours.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.answer(reqwest::Client::new().get(format!("{}{path}", self.base)))
            .await
    }

    /// POSTs `body` to `path`; the server's error message becomes ours.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.answer(
            reqwest::Client::new()
                .post(format!("{}{path}", self.base))
                .json(body),
        )
        .await
    }

    /// Sends a request: its answer, or the server's error message.
    async fn answer<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T> {
        let response = request
            .send()
            .await
            .with_context(|| format!("is `servicekanal dev` running at {}?", self.base))?;
        if !response.status().is_success() {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            bail!("{}", body["error"].as_str().unwrap_or("refused"));
        }
        Ok(response.json().await?)
    }
}
