//! The in-process queue of the local stack and of fast tests: FIFO order per group, the
//! five-minute deduplication window (on the injected clock), visibility until acknowledged.

use super::{FIFO_DEDUP_WINDOW, OutgoingMessage, Queue, QueueError};
use crate::ports::clock::SharedClock;
use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use ulid::Ulid;

#[derive(Debug)]
pub struct InProcessQueue {
    name: String,
    fifo: bool,
    clock: SharedClock,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Waiting messages with their send order.
    visible: VecDeque<(u64, SqsMessage)>,
    /// Delayed messages and when they become visible.
    delayed: Vec<(DateTime<Utc>, u64, SqsMessage)>,
    /// Received but not yet acknowledged, by receipt handle.
    in_flight: HashMap<String, (u64, SqsMessage)>,
    dedup_seen: HashMap<String, DateTime<Utc>>,
    sent: u64,
}

impl State {
    fn insert_in_send_order(&mut self, order: u64, message: SqsMessage) {
        let position = self
            .visible
            .iter()
            .position(|(o, _)| *o > order)
            .unwrap_or(self.visible.len());
        self.visible.insert(position, (order, message));
    }
}

impl InProcessQueue {
    /// A queue named like its SQS counterpart; a name ending in `.fifo` makes it FIFO.
    pub fn new(name: impl Into<String>, clock: SharedClock) -> Self {
        let name = name.into();
        Self {
            fifo: name.ends_with(".fifo"),
            name,
            clock,
            state: Mutex::new(State::default()),
        }
    }

    pub fn arn(&self) -> String {
        format!("arn:aws:sqs:local:000000000000:{}", self.name)
    }

    /// Messages waiting, visible or in flight.
    pub fn depth(&self) -> usize {
        let state = self.lock();
        state.visible.len() + state.in_flight.len() + state.delayed.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Queue for InProcessQueue {
    async fn send(&self, message: OutgoingMessage) -> Result<(), QueueError> {
        let now = self.clock.now();
        message.check(self.fifo)?;
        let mut state = self.lock();
        let mut attributes = HashMap::from([
            (
                "SentTimestamp".to_owned(),
                now.timestamp_millis().to_string(),
            ),
            ("ApproximateReceiveCount".to_owned(), "0".to_owned()),
        ]);
        // `check` made sure a FIFO message has both ids.
        if let (true, Some(group), Some(dedup)) = (self.fifo, &message.group_id, &message.dedup_id)
        {
            let window = chrono::Duration::from_std(FIFO_DEDUP_WINDOW).unwrap_or_default();
            state.dedup_seen.retain(|_, at| *at + window > now);
            if state.dedup_seen.contains_key(dedup) {
                return Ok(());
            }
            state.dedup_seen.insert(dedup.clone(), now);
            attributes.insert("MessageGroupId".into(), group.clone());
            attributes.insert("MessageDeduplicationId".into(), dedup.clone());
        }
        let mut sqs = SqsMessage::default();
        sqs.message_id = Some(Ulid::new().to_string());
        sqs.body = Some(message.body);
        sqs.attributes = attributes;
        sqs.event_source = Some("aws:sqs".into());
        sqs.event_source_arn = Some(self.arn());
        sqs.aws_region = Some("local".into());
        state.sent += 1;
        let order = state.sent;
        match message.delay {
            Some(delay) => {
                let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
                state.delayed.push((at, order, sqs));
            }
            None => state.visible.push_back((order, sqs)),
        }
        Ok(())
    }

    async fn receive(&self, max: usize) -> Result<Vec<SqsMessage>, QueueError> {
        let now = self.clock.now();
        let mut state = self.lock();
        // Delayed messages whose time has come join the queue in send order.
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut state.delayed)
            .into_iter()
            .partition(|(at, _, _)| *at <= now);
        state.delayed = waiting;
        for (_, order, message) in due {
            state.insert_in_send_order(order, message);
        }
        // FIFO: a group with a message in flight waits, so order within the group holds;
        // later messages of a group may join the same batch, behind the earlier ones.
        let busy: HashSet<String> = state
            .in_flight
            .values()
            .filter_map(|(_, m)| super::group_of(m).map(str::to_owned))
            .collect();
        let mut taken = Vec::new();
        let mut kept = VecDeque::new();
        while let Some((order, mut message)) = state.visible.pop_front() {
            let group = super::group_of(&message).map(str::to_owned);
            let blocked = group.as_ref().is_some_and(|g| busy.contains(g));
            if taken.len() == max || blocked {
                kept.push_back((order, message));
                continue;
            }
            let count = message
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse::<u32>().ok())
                .unwrap_or(0)
                + 1;
            message
                .attributes
                .insert("ApproximateReceiveCount".into(), count.to_string());
            let handle = Ulid::new().to_string();
            message.receipt_handle = Some(handle.clone());
            state.in_flight.insert(handle, (order, message.clone()));
            taken.push(message);
        }
        state.visible = kept;
        Ok(taken)
    }

    async fn acknowledge(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.lock().in_flight.remove(receipt_handle);
        Ok(())
    }

    async fn release(&self, receipt_handle: &str) -> Result<(), QueueError> {
        let mut state = self.lock();
        if let Some((order, mut message)) = state.in_flight.remove(receipt_handle) {
            message.receipt_handle = None;
            // Back in its place: it was sent first, it stays first for its group.
            state.insert_in_send_order(order, message);
        }
        Ok(())
    }
}
