//! The local stack's fault switch: every port can fail the way its AWS counterpart fails, at a
//! chosen rate, and the process can be made to die at a chosen step (`servicekanal dev
//! --faults store=0.05,queue=0.05,graph=0.1,objects=0.1,seed=7,crash=whatsapp.send:3`, or
//! `POST /local/faults`). The same switch drives the fault tests and `servicekanal load
//! --faults ...`; docs/reliability.md lists what each fault does and what it proves.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use servicekanal_shared::channels::whatsapp::{
    OutboundContent, Recipient, Sent, WhatsApp, WhatsAppError,
};
use servicekanal_shared::domain::keys::ItemKey;
use servicekanal_shared::ports::objects::{ObjectError, ObjectStore};
use servicekanal_shared::ports::queue::{OutgoingMessage, Queue, QueueError};
use servicekanal_shared::ports::store::faulty::{Injected, StoreFaults};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the process can be stopped: right after the n-th call of a step took effect
/// (`queue.ack`: right before the n-th acknowledgement, the message handled but not deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    #[serde(rename = "store.write")]
    StoreWrite,
    #[serde(rename = "queue.send")]
    QueueSend,
    #[serde(rename = "queue.ack")]
    QueueAck,
    #[serde(rename = "whatsapp.send")]
    WhatsAppSend,
}

impl Step {
    pub const ALL: [Step; 4] = [
        Step::StoreWrite,
        Step::QueueSend,
        Step::QueueAck,
        Step::WhatsAppSend,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::StoreWrite => "store.write",
            Step::QueueSend => "queue.send",
            Step::QueueAck => "queue.ack",
            Step::WhatsAppSend => "whatsapp.send",
        }
    }
}

/// The process dies (`abort`, as `kill -9` would stop it) at the `nth` call of `step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crash {
    pub step: Step,
    pub nth: u64,
}

/// Failure rates per port (0.0 to 1.0) and the seed of the dice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultPlan {
    pub store: f64,
    pub queue: f64,
    pub graph: f64,
    pub objects: f64,
    pub seed: u64,
    pub crash: Option<Crash>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultPlanError {
    #[error("{0:?} is not `name=value` (e.g. store=0.05)")]
    NotAPair(String),
    #[error("unknown fault switch {0:?}: store, queue, graph, objects, seed or crash")]
    UnknownSwitch(String),
    #[error("{name}={value:?}: a rate is a number from 0 to 1")]
    BadRate { name: String, value: String },
    #[error("seed={0:?} is not a whole number")]
    BadSeed(String),
    #[error(
        "crash={0:?} is not `step:n` with step store.write, queue.send, queue.ack or whatsapp.send and n >= 1"
    )]
    BadCrash(String),
}

impl std::str::FromStr for FaultPlan {
    type Err = FaultPlanError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let mut plan = FaultPlan::default();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| FaultPlanError::NotAPair(pair.to_owned()))?;
            let rate = || {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| FaultPlanError::BadRate {
                        name: name.to_owned(),
                        value: value.to_owned(),
                    })
            };
            match name {
                "store" => plan.store = rate()?,
                "queue" => plan.queue = rate()?,
                "graph" => plan.graph = rate()?,
                "objects" => plan.objects = rate()?,
                "seed" => {
                    plan.seed = value
                        .parse()
                        .map_err(|_| FaultPlanError::BadSeed(value.to_owned()))?
                }
                "crash" => {
                    let bad = || FaultPlanError::BadCrash(value.to_owned());
                    let (step, nth) = value.split_once(':').ok_or_else(bad)?;
                    let step = Step::ALL
                        .into_iter()
                        .find(|s| s.name() == step)
                        .ok_or_else(bad)?;
                    let nth = nth.parse().ok().filter(|n| *n >= 1).ok_or_else(bad)?;
                    plan.crash = Some(Crash { step, nth });
                }
                other => return Err(FaultPlanError::UnknownSwitch(other.to_owned())),
            }
        }
        Ok(plan)
    }
}

/// What the switch did so far: injected failures by `port.kind`, and calls per step.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FaultCounts {
    pub injected: BTreeMap<String, u64>,
    pub steps: BTreeMap<&'static str, u64>,
}

impl FaultCounts {
    /// Replies WhatsApp took whose answer was lost: the one place a reply may go out twice.
    pub fn replies_at_risk(&self) -> u64 {
        self.injected
            .get(ACCEPTED_THEN_LOST)
            .copied()
            .unwrap_or_default()
    }

    pub fn total(&self) -> u64 {
        self.injected.values().sum()
    }
}

/// The Graph API took the message, its answer never came back.
pub const ACCEPTED_THEN_LOST: &str = "graph.accepted_then_lost";

/// The switch shared by every port of one stack.
pub struct Faults {
    plan: Mutex<FaultPlan>,
    dice: Mutex<rand::rngs::StdRng>,
    injected: Mutex<BTreeMap<String, u64>>,
    steps: [AtomicU64; 4],
}

#[derive(Clone, Copy)]
enum Port {
    Store,
    Queue,
    Graph,
    Objects,
}

impl Faults {
    pub fn new(plan: FaultPlan) -> Arc<Self> {
        Arc::new(Self {
            dice: Mutex::new(rand::rngs::StdRng::seed_from_u64(plan.seed)),
            plan: Mutex::new(plan),
            injected: Mutex::new(BTreeMap::new()),
            steps: Default::default(),
        })
    }

    /// No faults: every call passes.
    pub fn none() -> Arc<Self> {
        Self::new(FaultPlan::default())
    }

    pub fn plan(&self) -> FaultPlan {
        self.plan.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Switches to another plan: the dice start again from its seed and the steps are counted
    /// from now (a crash point counts from here); the injected faults' counts go on.
    pub fn set(&self, plan: FaultPlan) {
        *self.dice.lock().unwrap_or_else(|e| e.into_inner()) =
            rand::rngs::StdRng::seed_from_u64(plan.seed);
        for step in &self.steps {
            step.store(0, Ordering::SeqCst);
        }
        *self.plan.lock().unwrap_or_else(|e| e.into_inner()) = plan;
    }

    pub fn counts(&self) -> FaultCounts {
        FaultCounts {
            injected: self
                .injected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            steps: Step::ALL
                .into_iter()
                .map(|s| (s.name(), self.steps[s as usize].load(Ordering::SeqCst)))
                .collect(),
        }
    }

    /// Whether this call of `port` fails, and if so which of `kinds` (counted by name).
    fn strike<T: Copy>(&self, port: Port, kinds: &[(&'static str, T)]) -> Option<T> {
        let rate = {
            let plan = self.plan.lock().unwrap_or_else(|e| e.into_inner());
            match port {
                Port::Store => plan.store,
                Port::Queue => plan.queue,
                Port::Graph => plan.graph,
                Port::Objects => plan.objects,
            }
        };
        if rate <= 0.0 || kinds.is_empty() {
            return None;
        }
        let (name, kind) = {
            let mut dice = self.dice.lock().unwrap_or_else(|e| e.into_inner());
            if !dice.random_bool(rate) {
                return None;
            }
            kinds[dice.random_range(0..kinds.len())]
        };
        *self
            .injected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_owned())
            .or_default() += 1;
        Some(kind)
    }

    /// Counts a call of `step`; at the planned one the process dies on the spot.
    fn passed(&self, step: Step) {
        let n = self.steps[step as usize].fetch_add(1, Ordering::SeqCst) + 1;
        let crash = self.plan.lock().unwrap_or_else(|e| e.into_inner()).crash;
        if crash == Some(Crash { step, nth: n }) {
            eprintln!("fault switch: stopping the process at {} #{n}", step.name());
            std::process::abort();
        }
    }
}

/// The store's side of the switch (see [`FaultyStore::with_faults`]).
///
/// [`FaultyStore::with_faults`]: servicekanal_shared::ports::store::faulty::FaultyStore::with_faults
pub struct StoreSwitch(pub Arc<Faults>);

/// The store's faults: a failed read, throttled before a write, or a timeout after it took
/// effect.
impl StoreFaults for StoreSwitch {
    fn before(&self, operation: &'static str, _key: &ItemKey) -> Option<Injected> {
        let reading = matches!(
            operation,
            "get" | "query" | "list_holds" | "list_owned" | "list_due"
        );
        if reading {
            return self
                .0
                .strike(Port::Store, &[("store.read_failed", Injected::Before)]);
        }
        self.0.strike(
            Port::Store,
            &[
                ("store.throttled", Injected::Before),
                ("store.timeout_after_write", Injected::AfterApplying),
            ],
        )
    }

    fn applied(&self, _operation: &'static str) {
        self.0.passed(Step::StoreWrite);
    }
}

/// A queue with the switch's faults: a send refused or lost after SQS took it, a receive
/// failing, a deletion failing (the message comes back after its visibility timeout).
pub struct FaultyQueue {
    pub inner: Arc<dyn Queue>,
    pub faults: Arc<Faults>,
}

#[derive(Clone, Copy)]
enum QueueFault {
    Before,
    AfterSending,
}

fn queue_fault(what: &str) -> QueueError {
    QueueError::Backend(format!("injected: {what}"))
}

#[async_trait]
impl Queue for FaultyQueue {
    async fn send(&self, message: OutgoingMessage) -> Result<(), QueueError> {
        let fault = self.faults.strike(
            Port::Queue,
            &[
                ("queue.send_failed", QueueFault::Before),
                ("queue.send_timeout_after_sending", QueueFault::AfterSending),
            ],
        );
        if let Some(QueueFault::Before) = fault {
            return Err(queue_fault("send failed"));
        }
        self.inner.send(message).await?;
        self.faults.passed(Step::QueueSend);
        match fault {
            Some(_) => Err(queue_fault("send timed out after SQS took the message")),
            None => Ok(()),
        }
    }

    async fn receive(&self, max: usize) -> Result<Vec<SqsMessage>, QueueError> {
        if self
            .faults
            .strike(Port::Queue, &[("queue.receive_failed", ())])
            .is_some()
        {
            return Err(queue_fault("receive failed"));
        }
        self.inner.receive(max).await
    }

    async fn acknowledge(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.faults.passed(Step::QueueAck);
        if self
            .faults
            .strike(Port::Queue, &[("queue.delete_failed", ())])
            .is_some()
        {
            return Err(queue_fault("delete failed"));
        }
        self.inner.acknowledge(receipt_handle).await
    }

    async fn release(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.inner.release(receipt_handle).await
    }
}

/// The Graph API with the switch's faults: throttling (130429 throughput, 131056 pair rate),
/// 5xx, a timeout before WhatsApp got the message, and one after it took it.
pub struct FaultyWhatsApp {
    pub inner: Arc<dyn WhatsApp>,
    pub faults: Arc<Faults>,
}

#[derive(Clone, Copy)]
enum GraphFault {
    Throughput,
    PairRate,
    ServerError,
    TimeoutBefore,
    AcceptedThenLost,
}

#[async_trait]
impl WhatsApp for FaultyWhatsApp {
    async fn send(&self, to: &Recipient, content: &OutboundContent) -> Result<Sent, WhatsAppError> {
        let fault = self.faults.strike(
            Port::Graph,
            &[
                ("graph.throttled_130429", GraphFault::Throughput),
                ("graph.pair_rate_131056", GraphFault::PairRate),
                ("graph.server_error", GraphFault::ServerError),
                ("graph.timeout", GraphFault::TimeoutBefore),
                (ACCEPTED_THEN_LOST, GraphFault::AcceptedThenLost),
            ],
        );
        let unavailable = |detail: &str| WhatsAppError::Unavailable {
            attempts: 1,
            detail: format!("injected: {detail}"),
        };
        match fault {
            Some(GraphFault::Throughput) => Err(WhatsAppError::Throttled {
                code: 130429,
                attempts: 1,
            }),
            Some(GraphFault::PairRate) => Err(WhatsAppError::Throttled {
                code: 131056,
                attempts: 1,
            }),
            Some(GraphFault::ServerError) => Err(unavailable("HTTP 503")),
            Some(GraphFault::TimeoutBefore) => Err(unavailable("timeout")),
            Some(GraphFault::AcceptedThenLost) => {
                self.inner.send(to, content).await?;
                self.faults.passed(Step::WhatsAppSend);
                Err(unavailable("timeout after WhatsApp took the message"))
            }
            None => {
                let sent = self.inner.send(to, content).await?;
                self.faults.passed(Step::WhatsAppSend);
                Ok(sent)
            }
        }
    }

    async fn mark_read(&self, wamid: &str, typing: bool) -> Result<(), WhatsAppError> {
        if self
            .faults
            .strike(Port::Graph, &[("graph.mark_read_failed", ())])
            .is_some()
        {
            return Err(WhatsAppError::Unavailable {
                attempts: 1,
                detail: "injected: HTTP 503".into(),
            });
        }
        self.inner.mark_read(wamid, typing).await
    }
}

/// The statistics bucket with the switch's faults: a failed upload, or one whose first half
/// got stored before it failed. Neither S3 nor the local directory (it renames) leaves such an
/// object; the switch makes one to prove that the export's retry overwrites it.
pub struct FaultyObjects {
    pub inner: Arc<dyn ObjectStore>,
    pub faults: Arc<Faults>,
}

#[derive(Clone, Copy)]
enum ObjectFault {
    Failed,
    Partial,
}

#[async_trait]
impl ObjectStore for FaultyObjects {
    async fn put(&self, key: &str, mut bytes: Vec<u8>) -> Result<(), ObjectError> {
        match self.faults.strike(
            Port::Objects,
            &[
                ("objects.put_failed", ObjectFault::Failed),
                ("objects.partial_put", ObjectFault::Partial),
            ],
        ) {
            None => self.inner.put(key, bytes).await,
            Some(ObjectFault::Failed) => Err(ObjectError::Backend("injected: put failed".into())),
            Some(ObjectFault::Partial) => {
                bytes.truncate(bytes.len() / 2);
                self.inner.put(key, bytes).await?;
                Err(ObjectError::Backend(
                    "injected: connection lost half-way through the upload".into(),
                ))
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        if self
            .faults
            .strike(Port::Objects, &[("objects.delete_failed", ())])
            .is_some()
        {
            return Err(ObjectError::Backend("injected: delete failed".into()));
        }
        self.inner.delete(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_reads_rates_seed_and_crash_point() {
        let plan: FaultPlan = "store=0.05, graph=0.1,seed=7,crash=whatsapp.send:3"
            .parse()
            .unwrap();
        assert_eq!(plan.store, 0.05);
        assert_eq!(plan.graph, 0.1);
        assert_eq!(plan.queue, 0.0);
        assert_eq!(plan.seed, 7);
        assert_eq!(
            plan.crash,
            Some(Crash {
                step: Step::WhatsAppSend,
                nth: 3
            })
        );
    }

    #[test]
    fn a_bad_plan_says_what_is_wrong() {
        for (spec, error) in [
            ("store", FaultPlanError::NotAPair("store".into())),
            ("disk=0.1", FaultPlanError::UnknownSwitch("disk".into())),
            (
                "graph=1.5",
                FaultPlanError::BadRate {
                    name: "graph".into(),
                    value: "1.5".into(),
                },
            ),
            ("seed=x", FaultPlanError::BadSeed("x".into())),
            (
                "crash=store.write:0",
                FaultPlanError::BadCrash("store.write:0".into()),
            ),
            ("crash=disk:1", FaultPlanError::BadCrash("disk:1".into())),
        ] {
            assert_eq!(spec.parse::<FaultPlan>(), Err(error), "{spec}");
        }
    }

    #[test]
    fn the_same_seed_strikes_the_same_calls() {
        let run = || {
            let faults = Faults::new("store=0.3,seed=11".parse().unwrap());
            (0..200)
                .map(|_| {
                    StoreSwitch(faults.clone())
                        .before("update", &ItemKey::new("a", "b"))
                        .is_some()
                })
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let struck = first.iter().filter(|s| **s).count();
        assert!((30..90).contains(&struck), "about 30 % of 200: {struck}");
    }
}
