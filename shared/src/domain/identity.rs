//! Who writes: a person's WhatsApp identifiers (phone number, business-scoped user id) and
//! the one contact they lead to.
//!
//! A contact's items live in one partition, `C#<contact id>`. The contact id is chosen at first
//! contact (the pseudonym of the first identifier seen, or a random one if that is taken) and
//! never changes. Each identifier leads to it through an identity link, `ID#<pseudonym of the
//! identifier>|LINK`, owned by the contact. So a person who writes with a phone number today
//! and with a user id tomorrow (or both) stays one contact; a changed number or user id moves
//! the link, and the old identifier is stored nowhere any more. When two contacts turn out to
//! be one person (a message carries both identifiers, each already known), the less recently
//! active contact is merged into the other: its links move, and its profile becomes owned by
//! the kept contact, so erasure, access and retention reach both partitions as one. See
//! docs/architecture.md and docs/retention.md.

use crate::domain::keys::{
    IDENTITY_LINK_PREFIX, ItemKey, Pseudonym, PseudonymError, Pseudonymizer, canonical_user_id,
    canonical_wa_id,
};
use crate::domain::{Contact, IdentifierKind, IdentityLink};
use crate::policy::retention::{self, Anchor, RetentionClass};
use crate::ports::store::{Record, Store, StoreError, Stored, Write, all_pages};
use chrono::{DateTime, Duration, Utc};

/// A link is moved to its contact's later deadline once it lags this far behind (the sweeper
/// moves it in its last day in any case).
const LINK_REFRESH_LAG: Duration = Duration::days(1);
const PAGE: u32 = 100;
const ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the message names neither a phone number nor a user id")]
    NoIdentifier,
    #[error(transparent)]
    Pseudonym(#[from] PseudonymError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One identifier of a person.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// International number in digits, as WhatsApp writes it (`491701234567`).
    Phone(String),
    /// Business-scoped user id (`DE.1349120865530274`).
    UserId(String),
}

impl Identifier {
    /// A phone number in any common spelling of its international form.
    pub fn phone(raw: &str) -> Result<Self, PseudonymError> {
        canonical_wa_id(raw)
            .map(Identifier::Phone)
            .ok_or(PseudonymError::NoDigits)
    }

    pub fn user_id(raw: &str) -> Result<Self, PseudonymError> {
        canonical_user_id(raw)
            .map(Identifier::UserId)
            .ok_or(PseudonymError::BadUserId)
    }

    pub fn kind(&self) -> IdentifierKind {
        match self {
            Identifier::Phone(_) => IdentifierKind::Phone,
            Identifier::UserId(_) => IdentifierKind::UserId,
        }
    }

    /// The identifier's pseudonym: the key of its link, and the contact id it proposes.
    pub fn pseudonym(&self, pseudonymizer: &Pseudonymizer) -> Result<Pseudonym, PseudonymError> {
        match self {
            Identifier::Phone(phone) => pseudonymizer.contact(phone),
            Identifier::UserId(user) => pseudonymizer.user(user),
        }
    }

    /// Whether a stored profile carries this identifier.
    fn is_on(&self, contact: &Contact) -> bool {
        match self {
            Identifier::Phone(phone) => {
                contact.wa_id.as_deref().and_then(canonical_wa_id).as_ref() == Some(phone)
            }
            Identifier::UserId(user) => contact.user_id.as_deref() == Some(user.as_str()),
        }
    }
}

/// The readable identifiers among a phone number and a user id, phone number first.
pub fn identifiers(wa_id: Option<&str>, user_id: Option<&str>) -> Vec<Identifier> {
    let phone = wa_id.and_then(|p| Identifier::phone(p).ok());
    let user = user_id.and_then(|u| Identifier::user_id(u).ok());
    phone.into_iter().chain(user).collect()
}

/// The identifiers of a profile, phone number first.
pub fn identifiers_of(contact: &Contact) -> Vec<Identifier> {
    identifiers(contact.wa_id.as_deref(), contact.user_id.as_deref())
}

/// Sets the identifier of its kind on a profile; true if the profile changed. A new user id
/// drops the old parent user id with it (the next message brings the new one).
pub fn set_identifier(contact: &mut Contact, identifier: &Identifier) -> bool {
    let (slot, value) = match identifier {
        Identifier::Phone(phone) => (&mut contact.wa_id, phone),
        Identifier::UserId(user) => (&mut contact.user_id, user),
    };
    if slot.as_deref() == Some(value.as_str()) {
        return false;
    }
    let had_one = slot.replace(value.clone()).is_some();
    if had_one && identifier.kind() == IdentifierKind::UserId {
        contact.parent_user_id = None;
    }
    true
}

/// The contact a message's identifiers lead to, with the links read on the way (so their
/// deadlines can follow the profile's without a second read).
#[derive(Clone, Debug)]
pub struct Established {
    pub contact: Pseudonym,
    pub links: Vec<Stored<IdentityLink>>,
    /// Younger contacts of the same person merged into `contact` on the way.
    pub merged: Vec<Pseudonym>,
}

/// The identity links of the single table.
pub struct Identities<'a> {
    pub store: &'a dyn Store,
    pub pseudonymizer: &'a Pseudonymizer,
}

impl Identities<'_> {
    async fn link_of(
        &self,
        identifier: &Identifier,
    ) -> Result<Option<Stored<IdentityLink>>, IdentityError> {
        let key = ItemKey::identity_link(&identifier.pseudonym(self.pseudonymizer)?);
        Ok(self.store.load(&key).await?)
    }

    async fn profile(&self, contact: &Pseudonym) -> Result<Option<Record>, StoreError> {
        self.store.get(&ItemKey::profile(contact)).await
    }

    /// The contact an identifier leads to: through its link, or (for contacts stored before
    /// links existed) the profile at the identifier's own pseudonym if it still carries it.
    pub async fn lookup(
        &self,
        identifier: &Identifier,
    ) -> Result<Option<Pseudonym>, IdentityError> {
        if let Some(link) = self.link_of(identifier).await? {
            return Ok(Some(link.body.contact));
        }
        Ok(self.own_pseudonym(identifier).await?.stored_before_links())
    }

    /// The identifier's own pseudonym (a first contact's id) and the profile stored there.
    async fn own_pseudonym(&self, identifier: &Identifier) -> Result<OwnPseudonym, IdentityError> {
        let pseudonym = identifier.pseudonym(self.pseudonymizer)?;
        let carries = match self.profile(&pseudonym).await? {
            Some(profile) => Some(identifier.is_on(&profile.body::<Contact>()?)),
            None => None,
        };
        Ok(OwnPseudonym { pseudonym, carries })
    }

    /// The class and deadline a link of `contact` takes: its profile's, or a new contact's.
    async fn retention_of(
        &self,
        contact: &Pseudonym,
        at: DateTime<Utc>,
    ) -> Result<(RetentionClass, DateTime<Utc>), StoreError> {
        Ok(match self.profile(contact).await? {
            Some(profile) => (profile.retention, profile.expires_at),
            None => new_contact_retention(at),
        })
    }

    /// The one contact of a person writing with these identifiers (at least one): found
    /// through their links, merged if they lead to several, or new. Every identifier is linked
    /// to it afterwards. Safe against concurrent deliveries: links are created conditionally.
    pub async fn establish(
        &self,
        identifiers: &[Identifier],
        at: DateTime<Utc>,
    ) -> Result<Established, IdentityError> {
        if identifiers.is_empty() {
            return Err(IdentityError::NoIdentifier);
        }
        let mut merged = Vec::new();
        for _ in 0..ATTEMPTS {
            let mut links = Vec::new();
            let mut contacts: Vec<Pseudonym> = Vec::new();
            let mut unlinked = Vec::new();
            for identifier in identifiers {
                let found = match self.link_of(identifier).await? {
                    Some(link) => {
                        let contact = link.body.contact.clone();
                        links.push(link);
                        Some(contact)
                    }
                    None => {
                        let own = self.own_pseudonym(identifier).await?;
                        let found = own.stored_before_links();
                        unlinked.push((identifier, own));
                        found
                    }
                };
                if let Some(contact) = found
                    && !contacts.contains(&contact)
                {
                    contacts.push(contact);
                }
            }
            let (contact, is_new) = match contacts.len() {
                0 => {
                    // The first identifier is unlinked too: its own pseudonym is the new id,
                    // unless someone who no longer has this identifier (a reassigned number)
                    // is stored there; then the new person gets an id of their own.
                    let own = &unlinked[0].1;
                    let id = match own.carries {
                        None => own.pseudonym.clone(),
                        Some(_) => Pseudonym::random(),
                    };
                    (id, true)
                }
                1 => (contacts.remove(0), false),
                _ => {
                    let (_, absorbed) = self.merge(&contacts, at).await?;
                    merged.extend(absorbed);
                    // Read the links again: they all lead to `keep` now.
                    continue;
                }
            };
            let mut raced = false;
            if !unlinked.is_empty() {
                let retention = if is_new {
                    new_contact_retention(at)
                } else {
                    self.retention_of(&contact, at).await?
                };
                for (identifier, _) in &unlinked {
                    match self.create_link(identifier, &contact, retention).await {
                        Ok(link) => links.push(link),
                        // A concurrent delivery linked it first: resolve again.
                        Err(IdentityError::Store(StoreError::AlreadyExists(_))) => raced = true,
                        Err(e) => return Err(e),
                    }
                }
            }
            if !raced {
                return Ok(Established {
                    contact,
                    links,
                    merged,
                });
            }
        }
        Err(StoreError::Backend("identity links kept changing".into()).into())
    }

    /// A new link of `identifier` to `contact`, under the contact's retention (see
    /// [`Identities::retention_of`]).
    async fn create_link(
        &self,
        identifier: &Identifier,
        contact: &Pseudonym,
        (class, deadline): (RetentionClass, DateTime<Utc>),
    ) -> Result<Stored<IdentityLink>, IdentityError> {
        let key = ItemKey::identity_link(&identifier.pseudonym(self.pseudonymizer)?);
        let link = IdentityLink {
            contact: contact.clone(),
            identifier: identifier.kind(),
        };
        let link = Stored::new(key, link, class, Anchor::With(deadline)).owned_by(contact);
        Ok(link.save(self.store).await?)
    }

    /// The writes that give a contact's links the class and deadline of its profile, where they differ
    /// (a deadline lagging by more than a day, or another class): the writes that make them
    /// follow, for the transaction that writes the profile. A link lives as long as its
    /// contact: `bot-7d` while the contact only talks to the bot, `service-13m` once it is a
    /// service contact.
    pub async fn links_following(
        &self,
        profile: &Contact,
        class: RetentionClass,
        deadline: DateTime<Utc>,
    ) -> Result<Vec<Write>, IdentityError> {
        let mut links = Vec::new();
        for identifier in identifiers_of(profile) {
            if let Some(link) = self.link_of(&identifier).await? {
                links.push(link);
            }
        }
        Ok(following(&links, class, deadline)?)
    }

    /// Moves links read a moment ago to their profile's class and deadline (see
    /// [`Identities::links_following`]); one that changed meanwhile is left to the next
    /// message or the sweeper.
    pub async fn follow_profile(
        &self,
        links: &[Stored<IdentityLink>],
        class: RetentionClass,
        deadline: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for write in following(links, class, deadline)? {
            match self.store.write_all(&[write]).await {
                Ok(()) | Err(StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A person's identifier changed (`user_changed_number`, `user_changed_user_id`, or a
    /// message with a new one): the contact keeps everything, the new identifier leads to it
    /// and the old one is removed from its link and profile. If the new identifier led to
    /// someone else (a number given to a new person), it leads here now and is taken off
    /// their profile.
    pub async fn change(
        &self,
        contact: &Pseudonym,
        old: Option<&Identifier>,
        new: &Identifier,
        at: DateTime<Utc>,
    ) -> Result<(), IdentityError> {
        match self.link_of(new).await? {
            Some(link) => {
                if &link.body.contact != contact {
                    self.forget_on_profile(&link.body.contact, new).await?;
                    let profile = self.profile(contact).await?;
                    let mut link = link.owned_by(contact);
                    link.body = IdentityLink {
                        contact: contact.clone(),
                        identifier: new.kind(),
                    };
                    if let Some(profile) = profile {
                        link.retain(profile.retention, Anchor::With(profile.expires_at));
                    }
                    link.into_write()?.commit(self.store).await?;
                }
            }
            None => match self
                .create_link(new, contact, self.retention_of(contact, at).await?)
                .await
            {
                Ok(_) | Err(IdentityError::Store(StoreError::AlreadyExists(_))) => {}
                Err(e) => return Err(e),
            },
        }
        if let Some(old) = old.filter(|old| *old != new)
            && let Some(link) = self.link_of(old).await?
            && &link.body.contact == contact
        {
            self.store.delete(link.key()).await?;
        }
        for _ in 0..ATTEMPTS {
            let Some(mut record) = self.profile(contact).await? else {
                return Ok(());
            };
            let mut profile: Contact = record.body()?;
            if !set_identifier(&mut profile, new) {
                return Ok(());
            }
            record.set_body(&profile)?;
            match self.store.update(&record).await {
                Ok(_) => return Ok(()),
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Backend("contact profile kept changing".into()).into())
    }

    /// Takes an identifier off a profile that no longer has it.
    async fn forget_on_profile(
        &self,
        contact: &Pseudonym,
        identifier: &Identifier,
    ) -> Result<(), IdentityError> {
        let Some(mut record) = self.profile(contact).await? else {
            return Ok(());
        };
        let mut profile: Contact = record.body()?;
        if !identifier.is_on(&profile) {
            return Ok(());
        }
        match identifier {
            Identifier::Phone(_) => profile.wa_id = None,
            Identifier::UserId(_) => {
                profile.user_id = None;
                profile.parent_user_id = None;
            }
        }
        record.set_body(&profile)?;
        self.store.update(&record).await?;
        Ok(())
    }

    /// Several contacts turned out to be one person: the most recently active one stays;
    /// the others' links lead to it, and their profiles (with what they know: identifiers,
    /// authentication) fold into it and become owned by it. Returns the kept contact and the
    /// merged ones.
    async fn merge(
        &self,
        contacts: &[Pseudonym],
        at: DateTime<Utc>,
    ) -> Result<(Pseudonym, Vec<Pseudonym>), IdentityError> {
        let mut profiles = Vec::new();
        for contact in contacts {
            if let Some(record) = self.profile(contact).await? {
                let profile: Contact = record.body()?;
                profiles.push((contact.clone(), record, profile));
            }
        }
        // The most recently active stays: its conversation goes on.
        profiles.sort_by_key(|(_, _, p)| std::cmp::Reverse(p.last_contact_at));
        let keep = profiles
            .first()
            .map(|(c, _, _)| c.clone())
            .unwrap_or_else(|| contacts[0].clone());
        let absorbed: Vec<Pseudonym> = contacts.iter().filter(|c| **c != keep).cloned().collect();
        for other in &absorbed {
            for key in all_pages(PAGE, |page| self.store.list_owned(other.as_str(), page)).await? {
                if !key.pk.starts_with(IDENTITY_LINK_PREFIX) {
                    continue;
                }
                if let Some(mut link) = self.store.get(&key).await? {
                    let mut body: IdentityLink = link.body()?;
                    body.contact = keep.clone();
                    link.set_body(&body)?;
                    link.owner = Some(keep.as_str().to_owned());
                    self.store.update(&link).await?;
                }
            }
        }
        let mut profiles = profiles.into_iter();
        if let Some((_, mut kept_record, mut kept)) = profiles.next() {
            for (_, record, profile) in profiles {
                fold_into(&mut kept, &profile);
                let class = retention::merged(kept_record.retention, record.retention);
                let deadline = kept_record.expires_at.max(record.expires_at);
                kept_record.retain(class, Anchor::With(deadline));
                // Its identifiers live on in the kept profile only: a later change of number
                // then leaves the old one nowhere, and nothing leads to this profile directly.
                let mut merged = profile;
                merged.wa_id = None;
                merged.user_id = None;
                merged.parent_user_id = None;
                merged.username = None;
                let mut record = record;
                record.set_body(&merged)?;
                record.owner = Some(keep.as_str().to_owned());
                self.store.update(&record).await?;
            }
            let class = kept_record.retention;
            // A profile counts from its contact's last contact, whatever its class.
            let last_contact = kept.last_contact_at.max(at);
            let deadline = kept_record
                .expires_at
                .max(class.deadline_of(Anchor::At(last_contact)));
            kept_record.retain(class, Anchor::With(deadline));
            kept_record.set_body(&kept)?;
            self.store.update(&kept_record).await?;
        }
        tracing::info!(merged = absorbed.len(), "contacts of one person merged");
        Ok((keep, absorbed))
    }
}

/// An identifier's own pseudonym, and whether a profile is stored there: `Some(true)` if it
/// carries the identifier (a contact stored before links existed), `Some(false)` if it is
/// someone else's (who had the identifier before).
struct OwnPseudonym {
    pseudonym: Pseudonym,
    carries: Option<bool>,
}

impl OwnPseudonym {
    fn stored_before_links(&self) -> Option<Pseudonym> {
        (self.carries == Some(true)).then(|| self.pseudonym.clone())
    }
}

/// A new contact's retention: a bot contact's, from its first message.
fn new_contact_retention(at: DateTime<Utc>) -> (RetentionClass, DateTime<Utc>) {
    (
        retention::NEW_CONTACT,
        retention::NEW_CONTACT.deadline_of(Anchor::At(at)),
    )
}

/// Updates for the links whose class or deadline lag behind their profile's.
fn following(
    links: &[Stored<IdentityLink>],
    class: RetentionClass,
    deadline: DateTime<Utc>,
) -> Result<Vec<Write>, StoreError> {
    links
        .iter()
        .filter(|link| link.retention() != class || link.expires_at() + LINK_REFRESH_LAG < deadline)
        .map(|link| {
            let mut link = link.clone();
            link.retain(class, Anchor::With(deadline));
            link.into_write()
        })
        .collect()
}

/// What a younger profile of the same person adds to the kept one.
fn fold_into(kept: &mut Contact, other: &Contact) {
    kept.wa_id = kept.wa_id.take().or_else(|| other.wa_id.clone());
    kept.user_id = kept.user_id.take().or_else(|| other.user_id.clone());
    kept.parent_user_id = kept
        .parent_user_id
        .take()
        .or_else(|| other.parent_user_id.clone());
    kept.username = kept.username.take().or_else(|| other.username.clone());
    kept.profile_name = kept
        .profile_name
        .take()
        .or_else(|| other.profile_name.clone());
    if kept.customer_ref.is_none() && other.customer_ref.is_some() {
        kept.customer_ref = other.customer_ref.clone();
        kept.kind = other.kind;
    } else if kept.kind == crate::domain::ContactKind::Unknown {
        kept.kind = other.kind;
    }
    kept.company_name = kept
        .company_name
        .take()
        .or_else(|| other.company_name.clone());
    kept.first_contact_at = kept.first_contact_at.min(other.first_contact_at);
    kept.last_contact_at = kept.last_contact_at.max(other.last_contact_at);
    kept.last_survey_at = kept.last_survey_at.max(other.last_survey_at);
}
