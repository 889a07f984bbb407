//! The retention sweeper: the hard deadline. DynamoDB's TTL deletes only "typically within a
//! few days", so on a schedule (every 15 minutes) the sweeper finds every item whose deadline
//! has passed through the expiry index (no scans) and deletes it, in bounded pages with
//! retries. Reads already hide such items; the sweeper makes them physically gone.
//!
//! It also carries the sliding `service-13m` deadline (see docs/retention.md): a contact's
//! profile holds the deadline that every new contact moves; the contact's other service items
//! are moved to it only when they come up in the expiry index (shortly before their own
//! deadline), so a message costs one write however long the history is. When a profile is
//! deleted, what is left of the contact goes with it (cascade).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use servicekanal_shared::domain::keys::{
    IDENTITY_LINK_PREFIX, ItemKey, PROFILE_SORT_KEY, Pseudonym,
};
use servicekanal_shared::policy::retention::{self, RetentionClass};
use servicekanal_shared::ports::clock::SharedClock;
use servicekanal_shared::ports::store::{
    DueItem, PageRequest, Record, RecordKind, Store, StoreError, all_pages,
};
use servicekanal_shared::runtime::{Env, StartupError, env};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// How long before the Lambda timeout a sweep stops taking new pages: it finishes the page in
/// flight, reports and emits its metrics instead of being cut off (the rest is `more_due`).
pub const STOP_BEFORE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepConfig {
    /// How often the schedule runs a sweep (`SWEEP_INTERVAL_MINUTES`, default 15).
    pub interval: Duration,
    /// How far back the expiry index is searched, for items an earlier sweep could not
    /// delete (`SWEEP_LOOKBACK_HOURS`, default 48). Each hour costs four small index queries.
    pub lookback: Duration,
    /// Service items of an active contact are moved to the contact's deadline this long
    /// before their own (default one day), so an active history never becomes unreadable.
    pub renew_ahead: Duration,
    /// Due items read per page of the expiry index.
    pub page_size: u32,
    /// Deletions in flight at once.
    pub concurrency: usize,
    /// Tries per item before it counts as failed (the next sweep tries again).
    pub attempts: u32,
    /// Pause before the first retry; doubled each time.
    pub retry_backoff: std::time::Duration,
    /// Due items one sweep handles at most (`SWEEP_MAX_ITEMS`); the rest waits for the next.
    pub max_items: usize,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            interval: Duration::minutes(15),
            lookback: Duration::hours(48),
            renew_ahead: Duration::days(1),
            page_size: 100,
            concurrency: 16,
            attempts: 3,
            retry_backoff: std::time::Duration::from_millis(100),
            max_items: 200_000,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{name} must be a positive whole number, got {value:?}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
}

/// What the function reads from its environment at cold start (template.yaml sets it); the sweep's own settings are `SweepConfig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub table_name: String,
}

impl Environment {
    pub fn read(env: &Env) -> Result<Self, StartupError> {
        Ok(Self {
            table_name: env.required(env::TABLE_NAME)?,
        })
    }
}

impl SweepConfig {
    /// The defaults, changed by the function's environment (injected for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number = |name: &'static str| -> Result<Option<i64>, ConfigError> {
            get(name)
                .map(|value| {
                    value
                        .trim()
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(ConfigError { name, value })
                })
                .transpose()
        };
        let mut config = Self::default();
        if let Some(minutes) = number("SWEEP_INTERVAL_MINUTES")? {
            config.interval = Duration::minutes(minutes);
        }
        if let Some(hours) = number("SWEEP_LOOKBACK_HOURS")? {
            config.lookback = Duration::hours(hours);
        }
        if let Some(max) = number("SWEEP_MAX_ITEMS")? {
            config.max_items = max as usize;
        }
        Ok(config)
    }
}

pub struct Ports {
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub config: SweepConfig,
}

/// What one sweep did: counts only, no keys, nothing personal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub at: DateTime<Utc>,
    /// Items deleted at their deadline, per class (cascades included).
    pub deleted: BTreeMap<RetentionClass, u64>,
    /// Of those, a contact's items whose own deadline lay ahead, removed with the profile.
    pub cascaded: u64,
    /// Service items moved to their contact's newer deadline (sliding 13 months).
    pub renewed: u64,
    /// Due items still there after every retry; the next sweep tries them again.
    pub failed: u64,
    /// More was due than one sweep handles (`SWEEP_MAX_ITEMS` or the Lambda's time); the next
    /// sweep goes on.
    pub more_due: bool,
}

impl SweepReport {
    pub fn total_deleted(&self) -> u64 {
        self.deleted.values().sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("the expiry index could not be read: {0}")]
    List(#[source] StoreError),
    #[error("{} due items could not be deleted; the next sweep retries them", .0.failed)]
    Incomplete(Box<SweepReport>),
}

/// What happened to one item the expiry index named.
enum Settled {
    Deleted {
        class: RetentionClass,
        cascade: BTreeMap<RetentionClass, u64>,
    },
    Renewed,
    /// Gone, held, renewed by someone else, or not due yet.
    Untouched,
}

/// A contact profile's class and deadline.
type ProfileDeadline = (RetentionClass, DateTime<Utc>);

/// One sweep's shared state: the store, the time it runs at, and the contacts' deadlines
/// read so far (one profile read per contact and sweep).
struct Sweep<'a> {
    ports: &'a Ports,
    now: DateTime<Utc>,
    contact_deadlines: Mutex<HashMap<Pseudonym, Option<ProfileDeadline>>>,
    /// Wall-clock time (not the injected clock) after which no new page is started.
    stop_by: Option<SystemTime>,
}

impl Sweep<'_> {
    fn out_of_time(&self) -> bool {
        self.stop_by
            .is_some_and(|stop_by| SystemTime::now() >= stop_by)
    }

    /// Retries a store operation with a doubling pause.
    async fn retried<T, F, Fut>(&self, mut operation: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut pause = self.ports.config.retry_backoff;
        let mut attempt = 1;
        loop {
            match operation().await {
                Ok(value) => return Ok(value),
                Err(e) if attempt >= self.ports.config.attempts => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "store call failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
            }
        }
    }

    /// The sliding deadline of a contact: their service profile's (the anchor).
    async fn contact_deadline(
        &self,
        contact: &Pseudonym,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .profile_deadline(contact)
            .await?
            .filter(|(class, _)| class.slides())
            .map(|(_, deadline)| deadline))
    }

    /// A contact's profile's class and deadline, if it has a readable profile.
    async fn profile_deadline(
        &self,
        contact: &Pseudonym,
    ) -> Result<Option<ProfileDeadline>, StoreError> {
        let known = self
            .contact_deadlines
            .lock()
            .expect("not poisoned")
            .get(contact)
            .copied();
        if let Some(known) = known {
            return Ok(known);
        }
        let profile = ItemKey::profile(contact);
        let deadline = self
            .retried(|| self.ports.store.get(&profile))
            .await?
            .map(|profile| (profile.retention, profile.expires_at));
        self.contact_deadlines
            .lock()
            .expect("not poisoned")
            .insert(contact.clone(), deadline);
        Ok(deadline)
    }

    /// The contact whose profile an item lives as long as, whatever its class: an identity
    /// link, or the profile of a contact merged into another (see `shared::identity`).
    async fn anchor_of(&self, item: &DueItem) -> Result<Option<Pseudonym>, StoreError> {
        if !(item.key.pk.starts_with(IDENTITY_LINK_PREFIX) || item.key.sk == PROFILE_SORT_KEY) {
            return Ok(None);
        }
        let record = self.retried(|| self.ports.store.get(&item.key)).await?;
        Ok(record
            .and_then(|r| r.owner)
            .and_then(|owner| Pseudonym::from_stored(&owner)))
    }

    /// The deadline a due item slides to, if it lives as long as something else: a link or a
    /// merged contact's profile as long as its owner, a contact's service item (not the
    /// profile itself, the anchor) as long as its contact's service profile.
    async fn slides_to(&self, item: &DueItem) -> Result<Option<DateTime<Utc>>, StoreError> {
        if let Some(anchor) = self.anchor_of(item).await? {
            return Ok(self.profile_deadline(&anchor).await?.map(|(_, d)| d));
        }
        match Pseudonym::from_partition(&item.key.pk) {
            Some(contact) if item.retention.slides() && item.key != ItemKey::profile(&contact) => {
                self.contact_deadline(&contact).await
            }
            _ => Ok(None),
        }
    }

    /// Renews, deletes or leaves one item the expiry index named.
    async fn settle(&self, item: &DueItem) -> Result<Settled, StoreError> {
        let store = self.ports.store.as_ref();
        if let Some(deadline) = retention::renewed(item.expires_at, self.slides_to(item).await?) {
            let moved = self
                .retried(|| store.set_deadline(&item.key, item.expires_at, deadline))
                .await?;
            return Ok(if moved {
                Settled::Renewed
            } else {
                Settled::Untouched
            });
        }
        if item.expires_at > self.now {
            return Ok(Settled::Untouched);
        }
        let Some(deleted) = self.retried(|| store.delete_due(&item.key)).await? else {
            return Ok(Settled::Untouched);
        };
        let cascade = if deleted.kind == RecordKind::Contact {
            self.cascade(&deleted).await?
        } else {
            BTreeMap::new()
        };
        Ok(Settled::Deleted {
            class: deleted.retention,
            cascade,
        })
    }

    /// The contact's deadline has passed: what is left of them (items whose own deadline
    /// lies a moment later, such as a reply sent after the last message) goes too. Their
    /// deadline is moved to now first, so the deletion is a due one (and the statistics call
    /// it the sweeper's). Held items stay.
    async fn cascade(&self, profile: &Record) -> Result<BTreeMap<RetentionClass, u64>, StoreError> {
        let store = self.ports.store.as_ref();
        let left = self
            .retried(|| {
                all_pages(self.ports.config.page_size, |page| {
                    store.query(&profile.key.pk, "", page)
                })
            })
            .await?;
        let mut removed = BTreeMap::new();
        for record in &left {
            let moved = self
                .retried(|| store.set_deadline(&record.key, record.expires_at, self.now))
                .await?;
            if moved
                && self
                    .retried(|| store.delete_due(&record.key))
                    .await?
                    .is_some()
            {
                *removed.entry(record.retention).or_default() += 1;
            }
        }
        Ok(removed)
    }

    /// Settles every item of `[since, until]` in the expiry index, page by page.
    async fn pass(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        report: &mut SweepReport,
        budget: &mut usize,
    ) -> Result<(), SweepError> {
        let store = self.ports.store.as_ref();
        let size = self.ports.config.page_size;
        let mut page = PageRequest::first(size);
        loop {
            let result = self
                .retried(|| store.list_due(since, until, page.clone()))
                .await
                .map_err(SweepError::List)?;
            let take = result.items.len().min(*budget);
            *budget -= take;
            // Owned items: the futures then borrow nothing but the sweep (Send for any caller).
            let outcomes: Vec<_> = futures::stream::iter(result.items.into_iter().take(take))
                .map(|item| async move { self.settle(&item).await })
                .buffer_unordered(self.ports.config.concurrency)
                .collect()
                .await;
            for outcome in outcomes {
                match outcome {
                    Ok(Settled::Deleted { class, cascade }) => {
                        *report.deleted.entry(class).or_default() += 1;
                        for (class, n) in cascade {
                            *report.deleted.entry(class).or_default() += n;
                            report.cascaded += n;
                        }
                    }
                    Ok(Settled::Renewed) => report.renewed += 1,
                    Ok(Settled::Untouched) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "due item not settled after retries");
                        report.failed += 1;
                    }
                }
            }
            // Out of time, a sweep still settles a page's worth first (index pages can be
            // empty between deadline hours), so each run makes progress.
            let settled = self.ports.config.max_items - *budget;
            let stop_for_time = self.out_of_time() && settled >= size as usize;
            match result.next {
                Some(_) if *budget == 0 || stop_for_time => {
                    if stop_for_time {
                        tracing::warn!("sweep stopped before the Lambda timeout; the next goes on");
                    }
                    report.more_due = true;
                    return Ok(());
                }
                Some(token) => page = PageRequest::after(size, token),
                None => return Ok(()),
            }
        }
    }
}

/// One sweep at the clock's now: deletes what is due (the last `lookback` of deadlines),
/// then renews the service items of active contacts that come due within `renew_ahead`.
pub async fn sweep(ports: &Ports) -> Result<SweepReport, SweepError> {
    sweep_until(ports, None).await
}

/// A sweep that starts no new page after `stop_by` (wall-clock time), once it has settled at
/// least a page's worth of due items, so every sweep makes progress.
pub async fn sweep_until(
    ports: &Ports,
    stop_by: Option<SystemTime>,
) -> Result<SweepReport, SweepError> {
    let now = ports.clock.now();
    let config = &ports.config;
    let sweep = Sweep {
        ports,
        now,
        contact_deadlines: Mutex::new(HashMap::new()),
        stop_by,
    };
    let mut report = SweepReport {
        at: now,
        ..SweepReport::default()
    };
    let mut budget = config.max_items;
    sweep
        .pass(now - config.lookback, now, &mut report, &mut budget)
        .await?;
    // Two intervals wide, so one missed run leaves no gap; items the window misses are
    // renewed at their deadline instead (unreadable for at most one interval).
    let ahead = now + config.renew_ahead;
    if sweep.out_of_time() {
        report.more_due = true;
    } else {
        sweep
            .pass(ahead - config.interval * 2, ahead, &mut report, &mut budget)
            .await?;
    }
    Ok(report)
}

const METRICS_NAMESPACE: &str = "Servicekanal/Retention";

/// The sweep's counts as CloudWatch metrics in the embedded metric format: JSON lines on
/// stdout, which Lambda's log stream turns into metrics without an API call. One line for the
/// sweep, one per retention class (EMF takes one dimension value per line).
pub fn metrics_lines(report: &SweepReport) -> Vec<String> {
    let aws = |dimensions: serde_json::Value, metrics: &[&str]| {
        serde_json::json!({
            "Timestamp": report.at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": metrics
                    .iter()
                    .map(|name| serde_json::json!({"Name": name, "Unit": "Count"}))
                    .collect::<Vec<_>>(),
            }]
        })
    };
    let mut lines = vec![
        serde_json::json!({
            "_aws": aws(
                serde_json::json!([[]]),
                &["ItemsRenewed", "ItemsCascaded", "SweepFailures", "SweepBacklog"],
            ),
            "ItemsRenewed": report.renewed,
            "ItemsCascaded": report.cascaded,
            "SweepFailures": report.failed,
            "SweepBacklog": u64::from(report.more_due),
        })
        .to_string(),
    ];
    for class in RetentionClass::ALL {
        lines.push(
            serde_json::json!({
                "_aws": aws(serde_json::json!([["RetentionClass"]]), &["ItemsDeleted"]),
                "RetentionClass": class.id(),
                "ItemsDeleted": report.deleted.get(&class).copied().unwrap_or(0),
            })
            .to_string(),
        );
    }
    lines
}

/// The Lambda handler: one sweep per scheduled event, ending `STOP_BEFORE_TIMEOUT` before the
/// invocation's deadline. Returns the report, or an error when items are left over after
/// retries (Lambda's `Errors` metric then raises the alarm).
pub async fn handle(
    event: LambdaEvent<EventBridgeEvent>,
    ports: &Ports,
) -> Result<SweepReport, SweepError> {
    tracing::info!(source = %event.payload.source, "sweep started");
    let stop_by = event.context.deadline().checked_sub(STOP_BEFORE_TIMEOUT);
    let report = sweep_until(ports, stop_by).await?;
    for line in metrics_lines(&report) {
        println!("{line}");
    }
    tracing::info!(
        deleted = report.total_deleted(),
        renewed = report.renewed,
        cascaded = report.cascaded,
        failed = report.failed,
        more_due = report.more_due,
        "sweep finished"
    );
    if report.failed > 0 {
        return Err(SweepError::Incomplete(Box::new(report)));
    }
    Ok(report)
}
