//! Data-subject rights over the single table: erasure, access (an export of everything stored)
//! and legal holds of one person. A person is named by a phone number or a WhatsApp user id
//! and found as a set of pseudonyms ([`Person`]): their contact (its partition `C#<id>` and,
//! through the owner index, what lives outside it: identity links, survey answers, callback
//! requests and their sales-list entries, delivery markers), contacts merged into it, and the
//! pseudonym of their phone number (which owns the callback requests of their calls).

use crate::domain::identity::{Identifier, Identities, IdentityError, identifiers_of};
use crate::domain::keys::{ItemKey, PROFILE_SORT_KEY, Pseudonym, PseudonymError, Pseudonymizer};
use crate::domain::phone::PhoneError;
use crate::domain::{Contact, IdentityLink};
use crate::policy::retention::RetentionClass;
use crate::ports::store::{DeletionReport, Hold, Record, Released, Store, StoreError, all_pages};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

const PAGE: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("cannot read the phone number: {0}")]
    Phone(#[from] PhoneError),
    #[error(transparent)]
    Pseudonym(#[from] PseudonymError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<IdentityError> for PrivacyError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Pseudonym(e) => PrivacyError::Pseudonym(e),
            IdentityError::Store(e) => PrivacyError::Store(e),
            IdentityError::NoIdentifier => PrivacyError::Pseudonym(PseudonymError::NoDigits),
        }
    }
}

/// How a request names the person: by phone number (any common spelling) or by WhatsApp
/// user id (BSUID).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonRef {
    Phone(String),
    UserId(String),
}

impl PersonRef {
    /// The identifier it names: a phone number in any common spelling (`+49 170 1234567`,
    /// `0170 1234567`, `0049 170 1234567`), or a user id.
    pub fn identifier(&self) -> Result<Identifier, PrivacyError> {
        Ok(match self {
            PersonRef::Phone(phone) => Identifier::phone(&crate::domain::phone::normalize(phone)?)?,
            PersonRef::UserId(user) => Identifier::user_id(user)?,
        })
    }

    /// What the request gave, as given (the access report repeats it).
    pub fn as_given(&self) -> &str {
        match self {
            PersonRef::Phone(s) | PersonRef::UserId(s) => s,
        }
    }
}

/// Every pseudonym under which something of one person may be stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Person {
    /// Their contacts: each one's partition and what it owns.
    pub contacts: Vec<Pseudonym>,
    /// Caller pseudonyms of their phone numbers, which own what their calls left (callback
    /// requests): what these own, but no partition.
    pub callers: Vec<Pseudonym>,
}

impl Person {
    /// A person known by their contact only (a contact erasing itself in the chat; [`expand`]
    /// adds the rest).
    pub fn of(contact: Pseudonym) -> Self {
        Self {
            contacts: vec![contact],
            callers: Vec::new(),
        }
    }

    fn all(&self) -> impl Iterator<Item = &Pseudonym> {
        self.contacts.iter().chain(&self.callers)
    }

    /// Adds the caller pseudonyms of a phone number: its own, and the one calls were owned
    /// by before callers had theirs (the number's contact pseudonym), unless that is the id
    /// of a contact that is not this person (a number given to someone new).
    async fn add_caller(
        &mut self,
        store: &dyn Store,
        pseudonymizer: &Pseudonymizer,
        phone: &str,
    ) -> Result<(), PrivacyError> {
        let caller = pseudonymizer.caller(phone)?;
        if !self.callers.contains(&caller) {
            self.callers.push(caller);
        }
        let earlier = pseudonymizer.contact(phone)?;
        if !self.all().any(|p| *p == earlier)
            && store.get(&ItemKey::profile(&earlier)).await?.is_none()
        {
            self.callers.push(earlier);
        }
        Ok(())
    }
}

/// The person a phone number or user id names: their contact (through the identity link),
/// and everything that belongs to it (see [`expand`]).
pub async fn find_person(
    store: &dyn Store,
    pseudonymizer: &Pseudonymizer,
    who: &PersonRef,
) -> Result<Person, PrivacyError> {
    let identifier = who.identifier()?;
    let identities = Identities {
        store,
        pseudonymizer,
    };
    let mut person = Person::default();
    let holds = all_holds(store).await?;
    match identities.lookup(&identifier).await? {
        Some(contact) => person.contacts.push(contact),
        // A held link is blocked from use, but not from a data-subject request.
        None => {
            let link = ItemKey::identity_link(&identifier.pseudonym(pseudonymizer)?);
            if let Some(held) = holds.iter().find(|r| r.key == link) {
                person.contacts.push(held.body::<IdentityLink>()?.contact);
            }
        }
    }
    if let Identifier::Phone(phone) = &identifier {
        person.add_caller(store, pseudonymizer, phone).await?;
    }
    expand_with(store, pseudonymizer, &mut person, &holds).await?;
    Ok(person)
}

/// Adds what belongs to the person's contacts: contacts merged into them (their profiles are
/// owned by the contact) and the pseudonyms of the contacts' phone numbers (callers).
pub async fn expand(
    store: &dyn Store,
    pseudonymizer: &Pseudonymizer,
    person: &mut Person,
) -> Result<(), PrivacyError> {
    expand_with(store, pseudonymizer, person, &all_holds(store).await?).await
}

/// [`expand`] with the holds already read.
async fn expand_with(
    store: &dyn Store,
    pseudonymizer: &Pseudonymizer,
    person: &mut Person,
    holds: &[Record],
) -> Result<(), PrivacyError> {
    let mut next = 0;
    while next < person.contacts.len() {
        let contact = person.contacts[next].clone();
        next += 1;
        for key in owned_keys(store, &contact).await? {
            if key.sk == PROFILE_SORT_KEY
                && let Some(merged) = Pseudonym::from_partition(&key.pk)
                && !person.contacts.contains(&merged)
            {
                person.contacts.push(merged);
            }
        }
        let key = ItemKey::profile(&contact);
        let profile = match store.get(&key).await? {
            Some(profile) => Some(profile),
            None => holds.iter().find(|r| r.key == key).cloned(),
        };
        if let Some(profile) = profile {
            for identifier in identifiers_of(&profile.body::<Contact>()?) {
                if let Identifier::Phone(phone) = &identifier {
                    person.add_caller(store, pseudonymizer, phone).await?;
                }
            }
        }
    }
    Ok(())
}

/// The keys of every item owned by `person` outside their partition, held or not.
pub async fn owned_keys(store: &dyn Store, person: &Pseudonym) -> Result<Vec<ItemKey>, StoreError> {
    all_pages(PAGE, |page| store.list_owned(person.as_str(), page)).await
}

/// The readable items of the person's partition.
async fn partition_records(
    store: &dyn Store,
    person: &Pseudonym,
) -> Result<Vec<Record>, StoreError> {
    let partition = person.partition();
    all_pages(PAGE, |page| store.query(&partition, "", page)).await
}

/// Every item under legal hold.
pub async fn all_holds(store: &dyn Store) -> Result<Vec<Record>, StoreError> {
    all_pages(PAGE, |page| store.list_holds(page)).await
}

fn belongs_to(record: &Record, person: &Person) -> bool {
    person
        .contacts
        .iter()
        .any(|p| record.key.pk == p.partition())
        || person
            .all()
            .any(|p| record.owner.as_deref() == Some(p.as_str()))
}

/// Deletes every item of the person in the table, except those under legal hold (counted as
/// kept). Statistics stay: they hold nothing that leads back to the person. Running it again
/// deletes nothing more.
pub async fn erase(store: &dyn Store, person: &Person) -> Result<DeletionReport, StoreError> {
    let mut report = DeletionReport::default();
    for pseudonym in person.all() {
        report.merge(&erase_owned(store, pseudonym).await?);
    }
    for contact in &person.contacts {
        report.merge(&store.delete_partition(&contact.partition()).await?);
    }
    Ok(report)
}

/// Deletes what a pseudonym owns outside its partition.
async fn erase_owned(store: &dyn Store, person: &Pseudonym) -> Result<DeletionReport, StoreError> {
    let mut report = DeletionReport::default();
    for key in owned_keys(store, person).await? {
        match store.delete(&key).await {
            Ok(Some(record)) => report.add(record.retention),
            Ok(None) => {}
            Err(StoreError::Held(_)) => report.held += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// One stored item as the person reads it: what it is, how long it is kept, and its content.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredItem {
    pub retention_class: RetentionClass,
    /// When it will be deleted (while held: when the hold is released, or at once if past).
    pub deleted_by: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<Hold>,
    pub content: serde_json::Value,
}

/// Everything stored about a person (right of access), grouped by kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccessReport {
    pub generated_at: DateTime<Utc>,
    /// The phone number or user id the request was made for, as given.
    pub requested_for: String,
    pub items: usize,
    /// Kind (`contact`, `conversation`, `message`, `survey-answer`, `callback-request`, ...)
    /// to the items of that kind, oldest key first.
    pub data: BTreeMap<String, Vec<StoredItem>>,
    /// What is kept without a link to the person and so cannot be included.
    pub note: &'static str,
}

const ACCESS_NOTE: &str = "Anonymised statistics (times, counts, scores) are kept without any \
    link to a person and cannot be attributed to you.";

fn stored_item(record: &Record) -> Result<StoredItem, StoreError> {
    let mut content = serde_dynamo::from_item::<_, serde_json::Value>(record.data.to_item())
        .map_err(|e| StoreError::Decode(e.to_string()))?;
    if record.kind == crate::ports::store::RecordKind::DeskChat
        && let Some(chat) = content.as_object_mut()
    {
        // A running chat's credentials are ours, not data about the person.
        chat.remove("tokens");
    }
    Ok(StoredItem {
        retention_class: record.retention,
        deleted_by: record.expires_at,
        legal_hold: record.hold.clone(),
        content,
    })
}

/// Everything stored about the person: readable items and items under legal hold.
pub async fn export(
    store: &dyn Store,
    person: &Person,
    requested_for: &str,
    now: DateTime<Utc>,
) -> Result<AccessReport, StoreError> {
    let mut records = Vec::new();
    for contact in &person.contacts {
        records.extend(partition_records(store, contact).await?);
    }
    for pseudonym in person.all() {
        for key in owned_keys(store, pseudonym).await? {
            if let Some(record) = store.get(&key).await? {
                records.push(record);
            }
        }
    }
    records.sort_by(|a, b| a.key.cmp(&b.key));
    records.dedup_by(|a, b| a.key == b.key);
    records.extend(
        all_holds(store)
            .await?
            .into_iter()
            .filter(|r| belongs_to(r, person)),
    );
    records.sort_by(|a, b| a.key.cmp(&b.key));
    let mut data: BTreeMap<String, Vec<StoredItem>> = BTreeMap::new();
    for record in &records {
        data.entry(record.kind.as_str().to_owned())
            .or_default()
            .push(stored_item(record)?);
    }
    Ok(AccessReport {
        generated_at: now,
        requested_for: requested_for.to_owned(),
        items: records.len(),
        data,
        note: ACCESS_NOTE,
    })
}

/// What placing or releasing holds for a person did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct HoldReport {
    /// Items now held (placed or released), per class.
    pub items: BTreeMap<RetentionClass, u64>,
    /// Released items whose deadline had passed: deleted.
    pub deleted: u64,
}

/// Puts every readable item of the person under legal hold.
pub async fn hold_person(
    store: &dyn Store,
    person: &Person,
    hold: &Hold,
) -> Result<HoldReport, StoreError> {
    let mut keys: Vec<ItemKey> = Vec::new();
    for contact in &person.contacts {
        keys.extend(
            partition_records(store, contact)
                .await?
                .into_iter()
                .map(|r| r.key),
        );
    }
    for pseudonym in person.all() {
        keys.extend(owned_keys(store, pseudonym).await?);
    }
    keys.sort();
    keys.dedup();
    let mut report = HoldReport::default();
    for key in keys {
        match store.place_hold(&key, hold.clone()).await {
            Ok(record) => *report.items.entry(record.retention).or_default() += 1,
            // Past its deadline (or gone) meanwhile: nothing to hold.
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// Releases every hold on the person's items; their deadlines apply again.
pub async fn release_person(store: &dyn Store, person: &Person) -> Result<HoldReport, StoreError> {
    let mut report = HoldReport::default();
    for record in all_holds(store).await? {
        if belongs_to(&record, person) {
            release_into(store, &record.key, &mut report).await?;
        }
    }
    Ok(report)
}

/// An item under legal hold as `servicekanal holds` lists it: what and why, no content.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct HoldView {
    /// `pk|sk`: what `servicekanal holds release --key` takes.
    pub key: String,
    pub kind: String,
    pub retention_class: RetentionClass,
    pub reason: String,
    pub placed_at: DateTime<Utc>,
    /// The deadline that applies again on release.
    pub deadline: DateTime<Utc>,
    /// A callback request's reference, as sales know it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Every hold, oldest first, as ops see it.
pub async fn hold_views(store: &dyn Store) -> Result<Vec<HoldView>, StoreError> {
    all_holds(store)
        .await?
        .into_iter()
        .map(|record| {
            let hold = record
                .hold
                .clone()
                .ok_or(StoreError::NotHeld(record.key.clone()))?;
            let reference = match record.kind {
                crate::ports::store::RecordKind::CallbackRequest => {
                    Some(record.body::<crate::domain::CallbackRequest>()?.reference)
                }
                _ => None,
            };
            Ok(HoldView {
                key: record.key.to_string(),
                kind: record.kind.as_str().to_owned(),
                retention_class: record.retention,
                reason: hold.reason,
                placed_at: hold.placed_at,
                deadline: record.expires_at,
                reference,
            })
        })
        .collect()
}

/// Reads a key as `hold_views` writes it (`pk|sk`).
pub fn parse_key(key: &str) -> Option<ItemKey> {
    let (pk, sk) = key.split_once('|')?;
    (!pk.is_empty() && !sk.is_empty()).then(|| ItemKey::new(pk, sk))
}

/// Releases one item's hold, counting what happened.
pub async fn release_into(
    store: &dyn Store,
    key: &ItemKey,
    report: &mut HoldReport,
) -> Result<(), StoreError> {
    match store.release_hold(key).await? {
        Released::Restored(record) => *report.items.entry(record.retention).or_default() += 1,
        Released::Deleted(_) => report.deleted += 1,
    }
    Ok(())
}
