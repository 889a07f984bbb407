//! Lisa's review (`servicekanal review`, the local page's "Lisa review" panel): messages Lisa
//! misunderstood, scrubbed of personal data, wait in the `REVIEW` partition (`bot-7d`, never
//! longer than the message). A reviewer labels one with the right topic, which stores an
//! anonymised training example (the scrubbed text, the topic, the day; nothing that leads back
//! to the person) under `training/labelled/` in the object store and deletes the item at once,
//! or discards it. `train-topics --examples` trains on the examples. The commands' operations
//! join the CLI's one [`Backend`].

use crate::backend::Backend;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use servicekanal_shared::domain::keys::{ItemKey, REVIEW_PARTITION};
use servicekanal_shared::domain::{ReviewItem, ReviewTrigger};
use servicekanal_shared::lisa::catalogue::TOPIC_IDS;
use servicekanal_shared::ports::objects::ObjectStore;
use servicekanal_shared::ports::store::{Store, Stored, all_pages};
use sha2::{Digest, Sha256};
use ulid::Ulid;

/// Where labelled examples live in the object store (the stats bucket in AWS, the local
/// stack's object directory locally).
pub const EXAMPLES_PREFIX: &str = "training/labelled/";

/// A review item as the reviewer sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewView {
    /// The item's id (the message's id; it leads nowhere without the table).
    pub id: String,
    pub text: String,
    pub guess: String,
    pub confidence: u8,
    pub trigger: ReviewTrigger,
    pub day: NaiveDate,
    /// When it is deleted if nobody looks at it (with its message).
    pub expires_at: DateTime<Utc>,
}

/// The open review items, oldest message first.
pub async fn list(store: &dyn Store) -> Result<Vec<ReviewView>> {
    let records = all_pages(100, |page| store.query(REVIEW_PARTITION, "", page)).await?;
    records
        .into_iter()
        .map(|record| {
            let item = Stored::<ReviewItem>::read(record)?;
            Ok(ReviewView {
                id: item.key().sk.clone(),
                expires_at: item.expires_at(),
                text: item.body.text,
                guess: item.body.guess,
                confidence: item.body.confidence,
                trigger: item.body.trigger,
                day: item.body.day,
            })
        })
        .collect()
}

fn key_of(id: &str) -> Result<ItemKey> {
    let id: Ulid = id
        .parse()
        .with_context(|| format!("{id:?} is not a review item id"))?;
    Ok(ItemKey::review_item(id))
}

/// Labels an item with the right topic: stores the anonymised example, deletes the item.
/// Returns the example's object key.
pub async fn label(
    store: &dyn Store,
    objects: &dyn ObjectStore,
    id: &str,
    topic: &str,
) -> Result<String> {
    if !TOPIC_IDS.contains(&topic) {
        bail!("unknown topic {topic:?}; one of: {}", TOPIC_IDS.join(", "));
    }
    let key = key_of(id)?;
    let Some(item) = store.load::<ReviewItem>(&key).await? else {
        bail!("no open review item {id}");
    };
    let (object, content) = example(topic, &item.body.text, item.body.day);
    objects.put(&object, content.into_bytes()).await?;
    store.delete(&key).await?;
    Ok(object)
}

/// The example's object key and content: one labelled line, the day as a comment. Named by
/// its content, so labelling the same text twice keeps one example.
fn example(topic: &str, text: &str, day: NaiveDate) -> (String, String) {
    let line = text.replace(['\t', '\n', '\r'], " ");
    let content = format!("# labelled example of {day}\n{topic}\t{line}\n");
    let name = hex::encode(&Sha256::digest(format!("{topic}\t{line}").as_bytes())[..12]);
    (format!("{EXAMPLES_PREFIX}{day}/{name}.tsv"), content)
}

/// Discards an item: nothing is kept.
pub async fn discard(store: &dyn Store, id: &str) -> Result<()> {
    let key = key_of(id)?;
    if store.delete(&key).await?.is_none() {
        bail!("no open review item {id}");
    }
    Ok(())
}

/// Deletes every labelled example whose text contains `needle` (case-insensitive): the way
/// out if a person's words slipped through the scrubber. Returns how many.
pub async fn purge(objects: &dyn ObjectStore, needle: &str) -> Result<usize> {
    if needle.trim().is_empty() {
        bail!("give the text to purge");
    }
    let needle = needle.to_lowercase();
    let mut purged = 0;
    for key in objects.list(EXAMPLES_PREFIX).await? {
        let Some(bytes) = objects.get(&key).await? else {
            continue;
        };
        if String::from_utf8_lossy(&bytes)
            .to_lowercase()
            .contains(&needle)
        {
            objects.delete(&key).await?;
            purged += 1;
        }
    }
    Ok(purged)
}

/// Every labelled example, as one labelled set (for `train-topics --examples`).
pub async fn examples(objects: &dyn ObjectStore) -> Result<String> {
    let mut set = String::new();
    for key in objects.list(EXAMPLES_PREFIX).await? {
        if let Some(bytes) = objects.get(&key).await? {
            set.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_example_is_one_labelled_line_named_by_its_content() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let (key, content) = example("bill", "meine rechnung\tist <telefon>", day);
        assert!(key.starts_with("training/labelled/2026-11-30/"), "{key}");
        assert_eq!(
            content,
            "# labelled example of 2026-11-30\nbill\tmeine rechnung ist <telefon>\n"
        );
        assert_eq!(example("bill", "meine rechnung\tist <telefon>", day).0, key);
        assert_ne!(
            example("network", "meine rechnung\tist <telefon>", day).0,
            key
        );
    }
}

#[derive(Serialize, Deserialize)]
pub struct LabelRequest {
    pub id: String,
    pub topic: String,
}

#[derive(Serialize, Deserialize)]
pub struct IdRequest {
    pub id: String,
}

#[derive(Serialize, Deserialize)]
pub struct PurgeRequest {
    pub contains: String,
}

#[derive(Serialize, Deserialize)]
pub struct Labelled {
    pub example: String,
}

#[derive(Serialize, Deserialize)]
pub struct Purged {
    pub purged: usize,
}

/// The bucket of the backend in AWS (labelling and purging write there).
fn bucket(objects: &Option<std::sync::Arc<dyn ObjectStore>>) -> Result<&dyn ObjectStore> {
    objects
        .as_deref()
        .context("--table needs --bucket (the stack's bucket) to keep labelled examples")
}

impl Backend {
    pub async fn review_list(&self) -> Result<Vec<ReviewView>> {
        match self {
            Backend::Local(api) => api.get("/local/review").await,
            Backend::Aws { store, .. } => list(store.as_ref()).await,
        }
    }

    pub async fn review_label(&self, id: &str, topic: &str) -> Result<String> {
        match self {
            Backend::Local(api) => {
                let request = LabelRequest {
                    id: id.to_owned(),
                    topic: topic.to_owned(),
                };
                let labelled: Labelled = api.post("/local/review/label", &request).await?;
                Ok(labelled.example)
            }
            Backend::Aws { store, objects, .. } => {
                label(store.as_ref(), bucket(objects)?, id, topic).await
            }
        }
    }

    pub async fn review_discard(&self, id: &str) -> Result<()> {
        match self {
            Backend::Local(api) => {
                let request = IdRequest { id: id.to_owned() };
                let _: serde_json::Value = api.post("/local/review/discard", &request).await?;
                Ok(())
            }
            Backend::Aws { store, .. } => discard(store.as_ref(), id).await,
        }
    }

    pub async fn review_purge(&self, contains: &str) -> Result<usize> {
        match self {
            Backend::Local(api) => {
                let request = PurgeRequest {
                    contains: contains.to_owned(),
                };
                let purged: Purged = api.post("/local/review/purge", &request).await?;
                Ok(purged.purged)
            }
            Backend::Aws { objects, .. } => purge(bucket(objects)?, contains).await,
        }
    }
}

/// The review list for people: one item per block.
pub fn render(items: &[ReviewView]) -> String {
    if items.is_empty() {
        return "no messages to review\n".to_owned();
    }
    let mut out = String::new();
    for item in items {
        out.push_str(&format!(
            "{}  {}  {}  Lisa: {} ({} %)\n    {}\n",
            item.id,
            item.day,
            item.trigger.as_str(),
            item.guess,
            item.confidence,
            item.text
        ));
    }
    out
}
