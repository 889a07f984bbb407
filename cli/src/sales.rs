//! `servicekanal callbacks`: sales' list of open callback requests, and marking one done
//! (deleted at once: the purpose is fulfilled) or blocked under legal hold. Works against
//! the local stack (its control API) or the DynamoDB table in AWS.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Berlin;
use servicekanal_shared::callback::CallbackCatalogue;
use servicekanal_shared::domain::CallbackRequest;
use servicekanal_shared::store::Store;
use std::sync::Arc;

pub enum Backend {
    /// A running `servicekanal dev` (its base URL).
    Local(String),
    /// The single table in AWS.
    Aws(Arc<dyn Store>),
}

impl Backend {
    /// The table named `table` with credentials and region from the environment.
    pub async fn aws(table: &str) -> Self {
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Backend::Aws(Arc::new(
            servicekanal_shared::store::dynamodb::DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&aws),
                table,
                Arc::new(servicekanal_shared::clock::SystemClock),
            ),
        ))
    }

    pub async fn list(&self) -> Result<Vec<CallbackRequest>> {
        match self {
            Backend::Local(base) => {
                let response = reqwest::get(format!("{base}/local/callbacks"))
                    .await
                    .with_context(|| format!("is `servicekanal dev` running at {base}?"))?;
                Ok(response.error_for_status()?.json().await?)
            }
            Backend::Aws(store) => Ok(voice_intake::list_open(store.as_ref()).await?),
        }
    }

    pub async fn done(&self, reference: &str) -> Result<()> {
        self.act("done", reference).await
    }

    pub async fn hold(&self, reference: &str) -> Result<()> {
        self.act("hold", reference).await
    }

    async fn act(&self, action: &str, reference: &str) -> Result<()> {
        match self {
            Backend::Local(base) => {
                let _: serde_json::Value = crate::privacy::local_post(
                    base,
                    &format!("/local/callbacks/{action}"),
                    &serde_json::json!({ "reference": reference }),
                )
                .await?;
                Ok(())
            }
            Backend::Aws(store) => {
                match action {
                    "done" => {
                        voice_intake::mark_done(store.as_ref(), reference, chrono::Utc::now())
                            .await
                            .map(|_| ())?
                    }
                    _ => {
                        voice_intake::hold(
                            store.as_ref(),
                            reference,
                            voice_intake::DEFAULT_HOLD_REASON,
                            chrono::Utc::now(),
                        )
                        .await?
                    }
                }
                Ok(())
            }
        }
    }
}

/// The list as sales reads it: reference, window (Berlin time), topic, name, number.
pub fn render(requests: &[CallbackRequest]) -> String {
    if requests.is_empty() {
        return "no open callback requests\n".into();
    }
    let catalogue = CallbackCatalogue::embedded();
    let time = |t: DateTime<Utc>| {
        t.with_timezone(&Berlin)
            .format("%a %d.%m. %H:%M")
            .to_string()
    };
    let mut out = format!(
        "{:<10} {:<27} {:<22} {:<24} {}\n",
        "reference", "window (Berlin)", "topic", "name", "number"
    );
    for r in requests {
        let topic = catalogue
            .get(&r.topic)
            .map_or(r.topic.as_str(), |t| t.label.as_str());
        let window = format!(
            "{} - {}",
            time(r.window_start),
            r.window_end.with_timezone(&Berlin).format("%H:%M")
        );
        out.push_str(&format!(
            "{:<10} {:<27} {:<22} {:<24} {}\n",
            r.reference,
            window,
            topic,
            r.name.as_deref().unwrap_or("-"),
            r.phone
        ));
    }
    out
}
