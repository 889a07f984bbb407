//! The `Store` contract as a property: random sequences of operations (conditional creates,
//! versioned updates and transactions, deletes, the sweeper's delete, deadline moves, legal
//! holds, partition erasure, queries, the expiry, owner and hold indexes, and the clock moving
//! on) run against an adapter and against a plain `BTreeMap` model of the contract; every
//! answer must match. The embedded store gets many long sequences; DynamoDB (moto's server,
//! `SERVICEKANAL_MOTO_URL`, as for the contract suite) a few short ones.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use servicekanal_shared::domain::Contact;
use servicekanal_shared::domain::keys::ItemKey;
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::Clock;
use servicekanal_shared::ports::store::{
    DeletionReport, DueItem, Hold, Record, Released, Store, StoreError, Write, all_pages,
};
use servicekanal_testing::harness::{self, Harness};
use servicekanal_testing::properties::config;
use std::collections::BTreeMap;

/// Few partitions and sort keys, so operations keep meeting the same items.
const PKS: [&str; 3] = ["C#alpha", "C#beta", "CB#gamma"];
const SKS: [&str; 5] = ["PROFILE", "MSG#01", "MSG#02", "MSG#10", "CONV#01"];
const PREFIXES: [&str; 6] = ["", "MSG#", "MSG#0", "CONV#", "P", "X"];
const OWNERS: [&str; 2] = ["owner-anna", "owner-ben"];
/// Deadlines and clock moves are multiples of ten minutes, so the clock often lands exactly
/// on a deadline (the deadline second itself counts as passed).
const STEP: i64 = 600;

fn key(i: usize) -> ItemKey {
    ItemKey::new(PKS[i / SKS.len()], SKS[i % SKS.len()])
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        key: usize,
        class: RetentionClass,
        /// Deadline in steps from now (zero or less: created past its deadline).
        ttl: i64,
        name: u8,
        owner: Option<usize>,
    },
    Get {
        key: usize,
    },
    /// An update from the stored version plus `stale` (0: current), optionally with a new
    /// deadline.
    Update {
        key: usize,
        stale: i64,
        name: u8,
        ttl: Option<i64>,
    },
    /// A transaction of creates (true) and current-version updates (false).
    WriteAll {
        writes: Vec<(usize, bool, u8)>,
    },
    Delete {
        key: usize,
    },
    DeleteDue {
        key: usize,
    },
    SetDeadline {
        key: usize,
        stale: bool,
        ttl: i64,
    },
    PlaceHold {
        key: usize,
    },
    ReleaseHold {
        key: usize,
    },
    DeletePartition {
        pk: usize,
    },
    Query {
        pk: usize,
        prefix: usize,
        page: u32,
    },
    ListDue {
        from: i64,
        to: i64,
        page: u32,
    },
    ListOwned {
        owner: usize,
    },
    ListHolds,
    /// The clock moves on by this many seconds.
    Advance {
        seconds: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let keys = 0..PKS.len() * SKS.len();
    let class = prop::sample::select(RetentionClass::ALL.to_vec());
    prop_oneof![
        6 => (keys.clone(), class, -2i64..18, any::<u8>(), proptest::option::of(0..OWNERS.len()))
            .prop_map(|(key, class, ttl, name, owner)| Op::Create { key, class, ttl, name, owner }),
        4 => keys.clone().prop_map(|key| Op::Get { key }),
        4 => (keys.clone(), prop::sample::select(vec![0i64, 0, 0, -1, 1]), any::<u8>(),
              proptest::option::of(-1i64..18))
            .prop_map(|(key, stale, name, ttl)| Op::Update { key, stale, name, ttl }),
        2 => prop::collection::vec((keys.clone(), any::<bool>(), any::<u8>()), 1..4)
            .prop_map(|writes| Op::WriteAll { writes }),
        2 => keys.clone().prop_map(|key| Op::Delete { key }),
        2 => keys.clone().prop_map(|key| Op::DeleteDue { key }),
        2 => (keys.clone(), prop::bool::weighted(0.2), 0i64..24)
            .prop_map(|(key, stale, ttl)| Op::SetDeadline { key, stale, ttl }),
        2 => keys.clone().prop_map(|key| Op::PlaceHold { key }),
        2 => keys.clone().prop_map(|key| Op::ReleaseHold { key }),
        1 => (0..PKS.len()).prop_map(|pk| Op::DeletePartition { pk }),
        3 => (0..PKS.len(), 0..PREFIXES.len(), 1u32..4)
            .prop_map(|(pk, prefix, page)| Op::Query { pk, prefix, page }),
        2 => (-6i64..=0, 0i64..=18, 1u32..4).prop_map(|(from, to, page)| Op::ListDue { from, to, page }),
        1 => (0..OWNERS.len()).prop_map(|owner| Op::ListOwned { owner }),
        1 => Just(Op::ListHolds),
        4 => prop_oneof![(1i64..=6).prop_map(|k| k * STEP), Just(1i64), Just(STEP - 1)]
            .prop_map(|seconds| Op::Advance { seconds }),
    ]
}

/// What an operation answered, comparable between adapter and model.
#[derive(Debug, PartialEq)]
enum Outcome {
    Done,
    Record(Option<Record>),
    Bool(bool),
    Released(Released),
    Report(DeletionReport),
    Records(Vec<Record>),
    Keys(Vec<ItemKey>),
    Due(Vec<DueItem>),
    Failed(Failure),
}

#[derive(Debug, PartialEq)]
enum Failure {
    AlreadyExists(ItemKey),
    NotFound(ItemKey),
    Held(ItemKey),
    NotHeld(ItemKey),
    VersionConflict(ItemKey, u64),
    Other(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists(k) => Failure::AlreadyExists(k),
            StoreError::NotFound(k) => Failure::NotFound(k),
            StoreError::Held(k) => Failure::Held(k),
            StoreError::NotHeld(k) => Failure::NotHeld(k),
            StoreError::VersionConflict { key, expected } => {
                Failure::VersionConflict(key, expected)
            }
            other => Failure::Other(other.to_string()),
        }
    }
}

fn outcome<T>(result: Result<T, StoreError>, ok: impl FnOnce(T) -> Outcome) -> Outcome {
    match result {
        Ok(value) => ok(value),
        Err(e) => Outcome::Failed(e.into()),
    }
}

/// Past its deadline at `now` (the deadline second itself counts as passed); written here
/// rather than taken from `Record`, so the model does not share the code it checks.
fn expired(r: &Record, now: DateTime<Utc>) -> bool {
    now >= r.expires_at
}

fn readable(r: &Record, now: DateTime<Utc>) -> bool {
    r.hold.is_none() && !expired(r, now)
}

/// The contract, written as plainly as it reads in the `Store` trait's documentation.
#[derive(Default)]
struct Model {
    items: BTreeMap<ItemKey, Record>,
}

impl Model {
    fn readable(&self, key: &ItemKey, now: DateTime<Utc>) -> Option<&Record> {
        self.items.get(key).filter(|r| readable(r, now))
    }

    /// The first write whose condition fails, as `create`/`update` would report it.
    fn check(&self, write: &Write, now: DateTime<Utc>) -> Option<Failure> {
        let stored = self.items.get(write.key());
        if stored.is_some_and(|r| r.hold.is_some()) {
            return Some(Failure::Held(write.key().clone()));
        }
        let current = stored.filter(|r| !expired(r, now));
        match (write, current) {
            (Write::Create(r), Some(_)) => Some(Failure::AlreadyExists(r.key.clone())),
            (Write::Update(r), None) => Some(Failure::NotFound(r.key.clone())),
            (Write::Update(r), Some(c)) if c.version != r.version => {
                Some(Failure::VersionConflict(r.key.clone(), r.version))
            }
            _ => None,
        }
    }

    fn write_all(&mut self, writes: &[Write], now: DateTime<Utc>) -> Outcome {
        if let Some(failure) = writes.iter().find_map(|w| self.check(w, now)) {
            return Outcome::Failed(failure);
        }
        for write in writes {
            self.items.insert(write.key().clone(), write.committed());
        }
        Outcome::Done
    }

    fn apply(&mut self, op: &Planned, now: DateTime<Utc>) -> Outcome {
        match op {
            Planned::Create(record) => self.write_all(&[Write::Create(record.clone())], now),
            Planned::Get(key) => Outcome::Record(self.readable(key, now).cloned()),
            Planned::Update(record) => {
                match self.write_all(&[Write::Update(record.clone())], now) {
                    Outcome::Done => Outcome::Record(Some(self.items[&record.key].clone())),
                    failed => failed,
                }
            }
            Planned::WriteAll(writes) => self.write_all(writes, now),
            Planned::Delete(key) => match self.items.get(key) {
                Some(r) if r.hold.is_some() => Outcome::Failed(Failure::Held(key.clone())),
                _ => Outcome::Record(self.items.remove(key)),
            },
            Planned::DeleteDue(key) => match self.items.get(key) {
                Some(r) if r.hold.is_none() && expired(r, now) => {
                    Outcome::Record(self.items.remove(key))
                }
                _ => Outcome::Record(None),
            },
            Planned::SetDeadline { key, from, to } => match self.items.get_mut(key) {
                Some(r) if r.hold.is_none() && r.expires_at == *from => {
                    r.expires_at = *to;
                    r.version += 1;
                    Outcome::Bool(true)
                }
                _ => Outcome::Bool(false),
            },
            Planned::PlaceHold(key, hold) => match self.items.get_mut(key) {
                None => Outcome::Failed(Failure::NotFound(key.clone())),
                Some(r) if r.hold.is_some() => Outcome::Record(Some(r.clone())),
                Some(r) if expired(r, now) => Outcome::Failed(Failure::NotFound(key.clone())),
                Some(r) => {
                    r.hold = Some(hold.clone());
                    r.version += 1;
                    Outcome::Record(Some(r.clone()))
                }
            },
            Planned::ReleaseHold(key) => match self.items.get(key).cloned() {
                None => Outcome::Failed(Failure::NotFound(key.clone())),
                Some(r) if r.hold.is_none() => Outcome::Failed(Failure::NotHeld(key.clone())),
                Some(r) => {
                    let released = Record { hold: None, ..r };
                    if expired(&released, now) {
                        self.items.remove(key);
                        Outcome::Released(Released::Deleted(released))
                    } else {
                        let restored = Record {
                            version: released.version + 1,
                            ..released
                        };
                        self.items.insert(key.clone(), restored.clone());
                        Outcome::Released(Released::Restored(restored))
                    }
                }
            },
            Planned::DeletePartition(pk) => {
                let mut report = DeletionReport::default();
                let keys: Vec<ItemKey> =
                    self.items.keys().filter(|k| &k.pk == pk).cloned().collect();
                for key in keys {
                    if self.items[&key].hold.is_some() {
                        report.held += 1;
                    } else if let Some(r) = self.items.remove(&key) {
                        report.add(r.retention);
                    }
                }
                Outcome::Report(report)
            }
            Planned::Query { pk, prefix, .. } => Outcome::Records(
                self.items
                    .values()
                    .filter(|r| &r.key.pk == pk && r.key.sk.starts_with(prefix.as_str()))
                    .filter(|r| readable(r, now))
                    .cloned()
                    .collect(),
            ),
            Planned::ListDue { since, until, .. } => {
                let mut due: Vec<DueItem> = self
                    .items
                    .values()
                    .filter(|r| {
                        r.hold.is_none() && r.expires_at >= *since && r.expires_at <= *until
                    })
                    .map(|r| DueItem {
                        key: r.key.clone(),
                        retention: r.retention,
                        expires_at: r.expires_at,
                    })
                    .collect();
                sort_due(&mut due);
                Outcome::Due(due)
            }
            Planned::ListOwned(owner) => Outcome::Keys(
                self.items
                    .values()
                    .filter(|r| r.owner.as_deref() == Some(owner.as_str()))
                    .map(|r| r.key.clone())
                    .collect(),
            ),
            Planned::ListHolds => Outcome::Records(
                self.items
                    .values()
                    .filter(|r| r.hold.is_some())
                    .cloned()
                    .collect(),
            ),
            Planned::Advance(_) => Outcome::Done,
        }
    }
}

fn sort_due(due: &mut [DueItem]) {
    due.sort_by(|a, b| (&a.key, a.expires_at).cmp(&(&b.key, b.expires_at)));
}

/// An operation with its records built from the model's state (versions as stored), so the
/// adapter and the model get the very same arguments.
#[derive(Debug)]
enum Planned {
    Create(Record),
    Get(ItemKey),
    Update(Record),
    WriteAll(Vec<Write>),
    Delete(ItemKey),
    DeleteDue(ItemKey),
    SetDeadline {
        key: ItemKey,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    PlaceHold(ItemKey, Hold),
    ReleaseHold(ItemKey),
    DeletePartition(String),
    Query {
        pk: String,
        prefix: String,
        page: u32,
    },
    ListDue {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        page: u32,
    },
    ListOwned(String),
    ListHolds,
    Advance(i64),
}

fn record(key: ItemKey, class: RetentionClass, expires_at: DateTime<Utc>, name: u8) -> Record {
    let anchor = DateTime::from_timestamp(1_795_000_000, 0).expect("in range");
    let body = Contact::new("491700000000", Some(format!("Version {name}")), anchor);
    Record {
        expires_at,
        ..Record::new(key, &body, class, anchor).expect("a contact encodes")
    }
}

fn plan(op: &Op, model: &Model, now: DateTime<Utc>) -> Planned {
    let at = |steps: i64| now + Duration::seconds(steps * STEP);
    // An update as a writer that read the item would send it (a fresh record if none).
    let update = |i: usize, stale: i64, name: u8, ttl: Option<i64>| {
        let k = key(i);
        let mut r = match model.items.get(&k) {
            Some(stored) => Record {
                hold: None,
                ..stored.clone()
            },
            None => record(k.clone(), RetentionClass::Bot7d, at(6), name),
        };
        r.data = record(k, r.retention, r.expires_at, name).data;
        r.version = r.version.saturating_add_signed(stale).max(1);
        if let Some(ttl) = ttl {
            r.expires_at = at(ttl);
        }
        r
    };
    match *op {
        Op::Create {
            key: i,
            class,
            ttl,
            name,
            owner,
        } => {
            let mut r = record(key(i), class, at(ttl), name);
            r.owner = owner.map(|o| OWNERS[o].to_owned());
            Planned::Create(r)
        }
        Op::Get { key: i } => Planned::Get(key(i)),
        Op::Update {
            key: i,
            stale,
            name,
            ttl,
        } => Planned::Update(update(i, stale, name, ttl)),
        Op::WriteAll { ref writes } => {
            let mut seen = Vec::new();
            let mut planned = Vec::new();
            for &(i, create, name) in writes {
                if seen.contains(&i) {
                    continue;
                }
                seen.push(i);
                planned.push(if create {
                    Write::Create(record(key(i), RetentionClass::Service13m, at(12), name))
                } else {
                    Write::Update(update(i, 0, name, None))
                });
            }
            Planned::WriteAll(planned)
        }
        Op::Delete { key: i } => Planned::Delete(key(i)),
        Op::DeleteDue { key: i } => Planned::DeleteDue(key(i)),
        Op::SetDeadline { key: i, stale, ttl } => {
            let k = key(i);
            let current = model.items.get(&k).map_or(at(1), |r| r.expires_at);
            Planned::SetDeadline {
                key: k,
                from: if stale {
                    current - Duration::seconds(1)
                } else {
                    current
                },
                to: at(ttl),
            }
        }
        Op::PlaceHold { key: i } => Planned::PlaceHold(
            key(i),
            Hold {
                reason: format!("case {i}"),
                placed_at: now,
            },
        ),
        Op::ReleaseHold { key: i } => Planned::ReleaseHold(key(i)),
        Op::DeletePartition { pk } => Planned::DeletePartition(PKS[pk].to_owned()),
        Op::Query { pk, prefix, page } => Planned::Query {
            pk: PKS[pk].to_owned(),
            prefix: PREFIXES[prefix].to_owned(),
            page,
        },
        Op::ListDue { from, to, page } => Planned::ListDue {
            since: at(from),
            until: at(to),
            page,
        },
        Op::ListOwned { owner } => Planned::ListOwned(OWNERS[owner].to_owned()),
        Op::ListHolds => Planned::ListHolds,
        Op::Advance { seconds } => Planned::Advance(seconds),
    }
}

async fn run(h: &Harness, op: &Planned) -> Outcome {
    let store: &dyn Store = h.store.as_ref();
    match op {
        Planned::Create(r) => outcome(store.create(r).await, |()| Outcome::Done),
        Planned::Get(k) => outcome(store.get(k).await, Outcome::Record),
        Planned::Update(r) => outcome(store.update(r).await, |r| Outcome::Record(Some(r))),
        Planned::WriteAll(writes) => outcome(store.write_all(writes).await, |()| Outcome::Done),
        Planned::Delete(k) => outcome(store.delete(k).await, Outcome::Record),
        Planned::DeleteDue(k) => outcome(store.delete_due(k).await, Outcome::Record),
        Planned::SetDeadline { key, from, to } => {
            outcome(store.set_deadline(key, *from, *to).await, Outcome::Bool)
        }
        Planned::PlaceHold(k, hold) => outcome(store.place_hold(k, hold.clone()).await, |r| {
            Outcome::Record(Some(r))
        }),
        Planned::ReleaseHold(k) => outcome(store.release_hold(k).await, Outcome::Released),
        Planned::DeletePartition(pk) => outcome(store.delete_partition(pk).await, Outcome::Report),
        Planned::Query { pk, prefix, page } => outcome(
            all_pages(*page, |p| store.query(pk, prefix, p)).await,
            Outcome::Records,
        ),
        Planned::ListDue { since, until, page } => outcome(
            all_pages(*page, |p| store.list_due(*since, *until, p)).await,
            |mut due| {
                sort_due(&mut due);
                Outcome::Due(due)
            },
        ),
        Planned::ListOwned(owner) => outcome(
            all_pages(2, |p| store.list_owned(owner, p)).await,
            |mut keys| {
                keys.sort();
                Outcome::Keys(keys)
            },
        ),
        Planned::ListHolds => outcome(all_pages(2, |p| store.list_holds(p)).await, |mut holds| {
            holds.sort_by(|a, b| a.key.cmp(&b.key));
            Outcome::Records(holds)
        }),
        Planned::Advance(seconds) => {
            h.clock.advance(Duration::seconds(*seconds));
            Outcome::Done
        }
    }
}

/// Runs one sequence on a fresh store of the adapter and on the model, step by step.
async fn agrees_with_the_model(h: Harness, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        let now = h.clock.now();
        let planned = plan(op, &model, now);
        let expected = model.apply(&planned, now);
        let got = run(&h, &planned).await;
        prop_assert_eq!(got, expected, "step {} at {}: {:?}", step, now, planned);
    }
    // Finally every item reads as the model says, held and expired ones too.
    let now = h.clock.now();
    for i in 0..PKS.len() * SKS.len() {
        let k = key(i);
        let got = h
            .store
            .get(&k)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got.as_ref(), model.readable(&k, now), "{}", k);
    }
    Ok(())
}

fn run_sequences(cases: u32, max_ops: usize, max_shrink_iters: u32, dynamodb: bool) {
    let config = ProptestConfig {
        max_shrink_iters,
        ..config(cases)
    };
    let mut runner = TestRunner::new(config);
    runner
        .run(&prop::collection::vec(op(), 1..max_ops), |ops| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let h = if dynamodb {
                    harness::dynamodb().await
                } else {
                    harness::embedded().await
                };
                agrees_with_the_model(h, &ops).await
            })
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_embedded_store_behaves_as_the_model() {
    run_sequences(128, 48, 512, false);
}

/// moto is slower (an HTTP round trip per call, a table per case): fewer, shorter sequences.
#[test]
fn dynamodb_behaves_as_the_model() {
    run_sequences(32, 20, 64, true);
}
