//! `servicekanal erase | export | holds`: data-subject requests and legal holds, against the
//! local stack (its control API) or the table in AWS (with the service secret's pseudonym key,
//! so a phone number finds the same items the functions stored).

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use servicekanal_shared::keys::Pseudonymizer;
use servicekanal_shared::privacy::{self, AccessReport, HoldReport, HoldView};
use servicekanal_shared::secrets::{Secrets, SecretsManagerSecrets};
use servicekanal_shared::store::{DeletionReport, Hold, Store, StoreError};
use std::sync::Arc;

pub enum Backend {
    /// A running `servicekanal dev` (its base URL).
    Local(String),
    /// The single table in AWS.
    Aws {
        store: Arc<dyn Store>,
        pseudonymizer: Pseudonymizer,
    },
}

/// What a hold or release names.
pub enum Target {
    Phone(String),
    /// A callback request's reference (holds only).
    Reference(String),
    /// One item, `pk|sk` as `holds` lists it (releases only).
    Key(String),
}

/// POSTs `body` to the local stack's control API; its error message becomes ours.
pub async fn local_post<B: Serialize, T: DeserializeOwned>(
    base: &str,
    path: &str,
    body: &B,
) -> Result<T> {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .with_context(|| format!("is `servicekanal dev` running at {base}?"))?;
    if !response.status().is_success() {
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        bail!("{}", body["error"].as_str().unwrap_or("refused"));
    }
    Ok(response.json().await?)
}

impl Backend {
    /// The table named `table`, and the pseudonym key from the secret `secret` (its ARN or
    /// name); credentials and region from the environment.
    pub async fn aws(table: &str, secret: &str) -> Result<Self> {
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let secrets = SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(&aws), secret)
            .load()
            .await
            .context("reading the service secret")?;
        let pseudonymizer = Pseudonymizer::new(secrets.pseudonym_key.expose().as_bytes().to_vec())?;
        Ok(Backend::Aws {
            store: Arc::new(servicekanal_shared::store::dynamodb::DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&aws),
                table,
                Arc::new(servicekanal_shared::clock::SystemClock),
            )),
            pseudonymizer,
        })
    }

    pub async fn erase(&self, phone: &str) -> Result<DeletionReport> {
        match self {
            Backend::Local(base) => {
                local_post(
                    base,
                    "/local/privacy/erase",
                    &serde_json::json!({"phone": phone}),
                )
                .await
            }
            Backend::Aws {
                store,
                pseudonymizer,
            } => {
                let person = privacy::person_of(pseudonymizer, phone)?;
                Ok(privacy::erase(store.as_ref(), &person).await?)
            }
        }
    }

    pub async fn export(&self, phone: &str) -> Result<serde_json::Value> {
        match self {
            Backend::Local(base) => {
                local_post(
                    base,
                    "/local/privacy/export",
                    &serde_json::json!({"phone": phone}),
                )
                .await
            }
            Backend::Aws {
                store,
                pseudonymizer,
            } => {
                let person = privacy::person_of(pseudonymizer, phone)?;
                let report: AccessReport =
                    privacy::export(store.as_ref(), &person, phone, chrono::Utc::now()).await?;
                Ok(serde_json::to_value(report)?)
            }
        }
    }

    pub async fn holds(&self) -> Result<Vec<HoldView>> {
        match self {
            Backend::Local(base) => {
                let response = reqwest::get(format!("{base}/local/holds"))
                    .await
                    .with_context(|| format!("is `servicekanal dev` running at {base}?"))?;
                Ok(response.error_for_status()?.json().await?)
            }
            Backend::Aws { store, .. } => Ok(privacy::hold_views(store.as_ref()).await?),
        }
    }

    pub async fn place(&self, target: &Target, reason: &str) -> Result<HoldReport> {
        if reason.trim().is_empty() {
            bail!("a hold needs a reason (a case or ticket reference)");
        }
        match self {
            Backend::Local(base) => {
                let body = match target {
                    Target::Phone(phone) => serde_json::json!({"phone": phone, "reason": reason}),
                    Target::Reference(r) => serde_json::json!({"reference": r, "reason": reason}),
                    Target::Key(_) => bail!("a hold names a phone number or a reference"),
                };
                local_post(base, "/local/holds", &body).await
            }
            Backend::Aws {
                store,
                pseudonymizer,
            } => {
                let hold = Hold {
                    reason: reason.trim().to_owned(),
                    placed_at: chrono::Utc::now(),
                };
                match target {
                    Target::Phone(phone) => {
                        let person = privacy::person_of(pseudonymizer, phone)?;
                        Ok(privacy::hold_person(store.as_ref(), &person, &hold).await?)
                    }
                    Target::Reference(reference) => {
                        voice_intake::hold(store.as_ref(), reference, &hold.reason, hold.placed_at)
                            .await?;
                        let mut report = HoldReport::default();
                        report.items.insert(
                            servicekanal_shared::retention::RetentionClass::Callback3m,
                            1,
                        );
                        Ok(report)
                    }
                    Target::Key(_) => bail!("a hold names a phone number or a reference"),
                }
            }
        }
    }

    pub async fn release(&self, target: &Target) -> Result<HoldReport> {
        match self {
            Backend::Local(base) => {
                let body = match target {
                    Target::Phone(phone) => serde_json::json!({"phone": phone}),
                    Target::Key(key) => serde_json::json!({"key": key}),
                    Target::Reference(_) => bail!("a release names a phone number or a key"),
                };
                local_post(base, "/local/holds/release", &body).await
            }
            Backend::Aws {
                store,
                pseudonymizer,
            } => match target {
                Target::Phone(phone) => {
                    let person = privacy::person_of(pseudonymizer, phone)?;
                    Ok(privacy::release_person(store.as_ref(), &person).await?)
                }
                Target::Key(key) => {
                    let key = privacy::parse_key(key).context("a key reads pk|sk")?;
                    let mut report = HoldReport::default();
                    match privacy::release_into(store.as_ref(), &key, &mut report).await {
                        Ok(()) => Ok(report),
                        Err(StoreError::NotHeld(_) | StoreError::NotFound(_)) => {
                            bail!("no hold on {key}")
                        }
                        Err(e) => Err(e.into()),
                    }
                }
                Target::Reference(_) => bail!("a release names a phone number or a key"),
            },
        }
    }
}

/// `deleted 12 items (bot-7d 5, service-13m 6, survey-13m 1); 0 kept under legal hold`.
pub fn render_deletion(report: &DeletionReport) -> String {
    let classes: Vec<String> = report
        .per_class
        .iter()
        .map(|(class, n)| format!("{class} {n}"))
        .collect();
    format!(
        "deleted {} items ({}); {} kept under legal hold\n",
        report.total(),
        if classes.is_empty() {
            "none".to_owned()
        } else {
            classes.join(", ")
        },
        report.held
    )
}

pub fn render_hold_report(verb: &str, report: &HoldReport) -> String {
    let total: u64 = report.items.values().sum();
    let classes: Vec<String> = report
        .items
        .iter()
        .map(|(class, n)| format!("{class} {n}"))
        .collect();
    let mut out = format!("{verb} {total} items");
    if !classes.is_empty() {
        out.push_str(&format!(" ({})", classes.join(", ")));
    }
    if report.deleted > 0 {
        out.push_str(&format!(
            "; {} deleted at once (deadline passed while held)",
            report.deleted
        ));
    }
    out.push('\n');
    out
}

/// The holds as a table: since, class, kind, deadline, reason, key.
pub fn render_holds(holds: &[HoldView]) -> String {
    if holds.is_empty() {
        return "no items under legal hold\n".into();
    }
    let mut out = format!(
        "{:<17} {:<12} {:<17} {:<17} {:<28} {}\n",
        "held since (UTC)", "class", "kind", "deadline (UTC)", "reason", "key / reference"
    );
    for h in holds {
        out.push_str(&format!(
            "{:<17} {:<12} {:<17} {:<17} {:<28} {}\n",
            h.placed_at.format("%Y-%m-%d %H:%M"),
            h.retention_class.id(),
            h.kind,
            h.deadline.format("%Y-%m-%d %H:%M"),
            h.reason,
            h.reference.as_deref().unwrap_or(&h.key),
        ));
    }
    out
}
