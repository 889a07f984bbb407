//! `servicekanal callbacks`: sales' list of open callback requests, and marking one done
//! (deleted at once: the purpose is fulfilled) or blocked under legal hold. Works against
//! the local stack (its control API) or the DynamoDB table in AWS.

use crate::backend::Backend;
use anyhow::Result;
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Berlin;
use servicekanal_shared::domain::CallbackRequest;
use servicekanal_shared::domain::callback::CallbackCatalogue;
use voice_intake::SalesAction;

impl Backend {
    pub async fn list(&self) -> Result<Vec<CallbackRequest>> {
        match self {
            Backend::Local(api) => api.get("/local/callbacks").await,
            Backend::Aws { store, .. } => Ok(voice_intake::list_open(store.as_ref()).await?),
        }
    }

    pub async fn done(&self, reference: &str) -> Result<()> {
        self.act(&SalesAction::Done {
            reference: reference.to_owned(),
        })
        .await
    }

    /// A hold with the default reason (sales gives none).
    pub async fn hold(&self, reference: &str) -> Result<()> {
        self.act(&SalesAction::Hold {
            reference: reference.to_owned(),
            reason: None,
        })
        .await
    }

    async fn act(&self, action: &SalesAction) -> Result<()> {
        match self {
            Backend::Local(api) => {
                // The control API takes the reference only (and holds with the default reason).
                let (path, reference) = match action {
                    SalesAction::Done { reference } => ("/local/callbacks/done", reference),
                    SalesAction::Hold { reference, .. } => ("/local/callbacks/hold", reference),
                };
                let _: serde_json::Value = api
                    .post(path, &serde_json::json!({ "reference": reference }))
                    .await?;
            }
            Backend::Aws { store, .. } => {
                voice_intake::apply(store.as_ref(), action, Utc::now()).await?;
            }
        }
        Ok(())
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
