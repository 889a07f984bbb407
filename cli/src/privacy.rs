//! `servicekanal erase | export | holds`: data-subject requests and legal holds, against the
//! local stack (its control API) or the table in AWS (with the service secret's pseudonym key,
//! so a phone number finds the same items the functions stored).

use crate::backend::Backend;
use crate::control::ControlApi;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use servicekanal_shared::domain::keys::Pseudonymizer;
use servicekanal_shared::policy::privacy::{self, AccessReport, HoldReport, HoldView, PersonRef};
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::store::{DeletionReport, Hold, Store, StoreError};

/// What a hold or release names.
pub enum Target {
    /// A person, by phone number or user id.
    Person(PersonRef),
    /// A callback request's reference (holds only).
    Reference(String),
    /// One item, `pk|sk` as `holds` lists it (releases only).
    Key(String),
}

impl Target {
    /// The one target of optional fields, as the CLI and the control API take them.
    pub fn of(
        person: Option<PersonRef>,
        reference: Option<String>,
        key: Option<String>,
    ) -> Option<Self> {
        match (person, reference, key) {
            (Some(person), None, None) => Some(Target::Person(person)),
            (None, Some(reference), None) => Some(Target::Reference(reference)),
            (None, None, Some(key)) => Some(Target::Key(key)),
            _ => None,
        }
    }
}

/// The person of a `--phone` or `--user-id` (at most one of them).
pub fn person_ref(phone: Option<String>, user_id: Option<String>) -> Option<PersonRef> {
    match (phone, user_id) {
        (Some(phone), None) => Some(PersonRef::Phone(phone)),
        (None, Some(user_id)) => Some(PersonRef::UserId(user_id)),
        _ => None,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Person(#[from] privacy::PrivacyError),
    #[error(transparent)]
    Sales(#[from] voice_intake::SalesError),
    #[error("a hold needs a reason (a case or ticket reference)")]
    NoReason,
    #[error("a hold names a phone number, a user id or a callback reference")]
    HoldTarget,
    #[error("a release names a phone number, a user id or a key")]
    ReleaseTarget,
    #[error("a key reads pk|sk, got {0:?}")]
    BadKey(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OpsError {
    /// The request named something that does not exist (no such reference, no such hold).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            OpsError::Sales(voice_intake::SalesError::UnknownReference(_))
                | OpsError::Store(StoreError::NotHeld(_) | StoreError::NotFound(_))
        )
    }

    /// The request itself is wrong (an unreadable number, no reason, no target).
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            OpsError::Person(privacy::PrivacyError::Phone(_) | privacy::PrivacyError::Pseudonym(_))
                | OpsError::NoReason
                | OpsError::HoldTarget
                | OpsError::ReleaseTarget
                | OpsError::BadKey(_)
        )
    }
}

/// The privacy operations on a table: what `servicekanal ... --table` runs in AWS and what
/// the local stack's control API runs on its embedded store.
pub struct Ops<'a> {
    pub store: &'a dyn Store,
    pub pseudonymizer: &'a Pseudonymizer,
}

impl Ops<'_> {
    async fn person(&self, who: &PersonRef) -> Result<privacy::Person, OpsError> {
        Ok(privacy::find_person(self.store, self.pseudonymizer, who).await?)
    }

    pub async fn erase(&self, who: &PersonRef) -> Result<DeletionReport, OpsError> {
        let person = self.person(who).await?;
        let report = privacy::erase(self.store, &person).await?;
        tracing::info!(
            items = report.total(),
            held = report.held,
            "person erased on request"
        );
        Ok(report)
    }

    pub async fn export(
        &self,
        who: &PersonRef,
        now: DateTime<Utc>,
    ) -> Result<AccessReport, OpsError> {
        let person = self.person(who).await?;
        Ok(privacy::export(self.store, &person, who.as_given(), now).await?)
    }

    pub async fn holds(&self) -> Result<Vec<HoldView>, OpsError> {
        Ok(privacy::hold_views(self.store).await?)
    }

    pub async fn place(
        &self,
        target: &Target,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<HoldReport, OpsError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(OpsError::NoReason);
        }
        let hold = Hold {
            reason: reason.to_owned(),
            placed_at: now,
        };
        match target {
            Target::Person(who) => {
                let person = self.person(who).await?;
                Ok(privacy::hold_person(self.store, &person, &hold).await?)
            }
            Target::Reference(reference) => {
                voice_intake::hold(self.store, reference, &hold.reason, now).await?;
                let mut report = HoldReport::default();
                report.items.insert(RetentionClass::Callback3m, 1);
                Ok(report)
            }
            Target::Key(_) => Err(OpsError::HoldTarget),
        }
    }

    pub async fn release(&self, target: &Target) -> Result<HoldReport, OpsError> {
        match target {
            Target::Person(who) => {
                let person = self.person(who).await?;
                Ok(privacy::release_person(self.store, &person).await?)
            }
            Target::Key(key) => {
                let key = privacy::parse_key(key).ok_or_else(|| OpsError::BadKey(key.clone()))?;
                let mut report = HoldReport::default();
                privacy::release_into(self.store, &key, &mut report).await?;
                Ok(report)
            }
            Target::Reference(_) => Err(OpsError::ReleaseTarget),
        }
    }
}

/// A target as the control API takes it.
fn target_json(target: &Target) -> serde_json::Value {
    match target {
        Target::Person(PersonRef::Phone(phone)) => serde_json::json!({"phone": phone}),
        Target::Person(PersonRef::UserId(user_id)) => serde_json::json!({"user_id": user_id}),
        Target::Reference(reference) => serde_json::json!({"reference": reference}),
        Target::Key(key) => serde_json::json!({"key": key}),
    }
}

impl Backend {
    /// The operations on the AWS table, or the local stack's control API.
    fn ops(&self) -> Result<std::result::Result<Ops<'_>, &ControlApi>> {
        Ok(match self {
            Backend::Local(api) => Err(api),
            Backend::Aws {
                store,
                pseudonymizer,
                ..
            } => Ok(Ops {
                store: store.as_ref(),
                pseudonymizer: pseudonymizer
                    .as_ref()
                    .context("--table needs --secret (the stack's ServiceSecretArn output)")?,
            }),
        })
    }

    pub async fn erase(&self, who: &PersonRef) -> Result<DeletionReport> {
        match self.ops()? {
            Ok(ops) => Ok(ops.erase(who).await?),
            Err(api) => {
                api.post(
                    "/local/privacy/erase",
                    &target_json(&Target::Person(who.clone())),
                )
                .await
            }
        }
    }

    pub async fn export(&self, who: &PersonRef) -> Result<serde_json::Value> {
        match self.ops()? {
            Ok(ops) => Ok(serde_json::to_value(ops.export(who, Utc::now()).await?)?),
            Err(api) => {
                api.post(
                    "/local/privacy/export",
                    &target_json(&Target::Person(who.clone())),
                )
                .await
            }
        }
    }

    pub async fn holds(&self) -> Result<Vec<HoldView>> {
        match self.ops()? {
            Ok(ops) => Ok(ops.holds().await?),
            Err(api) => api.get("/local/holds").await,
        }
    }

    pub async fn place(&self, target: &Target, reason: &str) -> Result<HoldReport> {
        match self.ops()? {
            Ok(ops) => Ok(ops.place(target, reason, Utc::now()).await?),
            Err(api) => {
                let mut body = target_json(target);
                body["reason"] = reason.into();
                api.post("/local/holds", &body).await
            }
        }
    }

    pub async fn release(&self, target: &Target) -> Result<HoldReport> {
        match self.ops()? {
            Ok(ops) => Ok(ops.release(target).await?),
            Err(api) => api.post("/local/holds/release", &target_json(target)).await,
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
