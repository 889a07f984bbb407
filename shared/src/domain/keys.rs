//! The key scheme of the single table, and the pseudonyms that keep phone numbers out of keys.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | contact profile | `C#<pseudonym>` | `PROFILE` |
//! | conversation | `C#<pseudonym>` | `CONV#<ulid>` |
//! | message | `C#<pseudonym>` | `MSG#<ulid>` |
//! | authentication attempts | `C#<pseudonym>` | `AUTH` |
//! | authentication attempts on a customer number, over all contacts | `CUST#<pseudonym of the customer number>` | `AUTH` |
//! | running survey | `C#<pseudonym>` | `SURVEY` |
//! | identity link (phone number or user id to contact) | `ID#<pseudonym of the identifier>` | `LINK` |
//! | delivery de-duplication | `WAMID#<hash>` | `SEEN` |
//! | survey answer | `SURVEY#<ulid>` | `ANSWER` |
//! | callback request | `CB#<connect contact id>` | `REQUEST` |
//! | agent desk chat of a handover (Connect) | `CHAT#<connect contact id>` | `CHAT` |
//! | open callback (sales list) | `CBOPEN` | `<window start>#<connect contact id>` |

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use ulid::Ulid;

/// Attribute names of the table, shared by both store adapters and template.yaml.
pub mod attr {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const KIND: &str = "kind";
    pub const RETENTION_CLASS: &str = "retention_class";
    /// The deadline, epoch seconds (a Number): the table's TTL attribute.
    pub const EXPIRES_AT: &str = "expires_at";
    /// Hour bucket of the deadline (plus shard): the expiry index's partition key.
    pub const EXPIRY_BUCKET: &str = "expiry_bucket";
    pub const VERSION: &str = "version";
    pub const DATA: &str = "data";
    /// The pseudonym of the person an item outside their partition belongs to (survey
    /// answers, callback requests, delivery markers): the owner index's partition key.
    pub const OWNER: &str = "owner";
    /// Set (to [`super::HELD`]) while an item is under legal hold: the hold index's key.
    pub const HELD: &str = "held";
    /// When the hold was placed (RFC 3339): the hold index's sort key.
    pub const HELD_AT: &str = "held_at";
    pub const HOLD_REASON: &str = "hold_reason";
    /// A held item's deadline, kept aside: without `expires_at` neither TTL nor the expiry
    /// index can reach it.
    pub const HELD_EXPIRES_AT: &str = "held_expires_at";
}

/// Name of the global secondary index on (`expiry_bucket`, `expires_at`).
pub const EXPIRY_INDEX: &str = "expiry-index";
/// Name of the global secondary index on `owner`: every item of a person outside their partition.
pub const OWNER_INDEX: &str = "owner-index";
/// Name of the global secondary index on (`held`, `held_at`): every item under legal hold.
pub const HOLD_INDEX: &str = "hold-index";
/// The value of `held` on every held item (the hold index's single partition: holds are few).
pub const HELD: &str = "HOLD";
/// Each hour bucket is split over this many shards so a busy hour does not make a hot partition.
pub const EXPIRY_SHARDS: u8 = 4;

/// The primary key of an item.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemKey {
    pub pk: String,
    pub sk: String,
}

impl ItemKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    pub fn profile(contact: &Pseudonym) -> Self {
        Self::new(contact.partition(), PROFILE_SORT_KEY)
    }

    pub fn conversation(contact: &Pseudonym, id: Ulid) -> Self {
        Self::new(contact.partition(), ulid_part(CONVERSATION_PREFIX, id))
    }

    pub fn message(contact: &Pseudonym, id: Ulid) -> Self {
        Self::new(contact.partition(), ulid_part(MESSAGE_PREFIX, id))
    }

    pub fn auth_attempts(contact: &Pseudonym) -> Self {
        Self::new(contact.partition(), "AUTH")
    }

    /// The failed authentications on one customer number, whichever contacts tried it (its
    /// pseudonym: [`Pseudonymizer::customer_number`]).
    pub fn customer_number_attempts(number: &Pseudonym) -> Self {
        Self::new([CUSTOMER_NUMBER_PREFIX, &number.0].concat(), "AUTH")
    }

    pub fn survey_session(contact: &Pseudonym) -> Self {
        Self::new(contact.partition(), "SURVEY")
    }

    /// The link from one identifier of a person (its pseudonym) to their contact.
    pub fn identity_link(identifier: &Pseudonym) -> Self {
        Self::new([IDENTITY_LINK_PREFIX, &identifier.0].concat(), "LINK")
    }

    pub fn delivery_marker(hash: &DeliveryHash) -> Self {
        Self::new(["WAMID#", &hash.0].concat(), "SEEN")
    }

    /// A message sent to review: one partition, read by the reviewer's list.
    pub fn review_item(message: Ulid) -> Self {
        Self::new(REVIEW_PARTITION, message.to_string())
    }

    pub fn survey_answer(id: Ulid) -> Self {
        Self::new(ulid_part("SURVEY#", id), "ANSWER")
    }

    pub fn callback_request(connect_contact_id: &str) -> Self {
        Self::new([CALLBACK_PREFIX, connect_contact_id].concat(), "REQUEST")
    }

    /// The desk's chat of a handed-over conversation, found by the chat's contact id.
    pub fn desk_chat(connect_contact_id: &str) -> Self {
        Self::new([DESK_CHAT_PREFIX, connect_contact_id].concat(), "CHAT")
    }

    /// The Amazon Connect contact an item stands for (a callback request's call, a
    /// handover's chat): Connect's own record of it is redacted when the item goes.
    pub fn connect_contact_id(&self) -> Option<&str> {
        self.pk
            .strip_prefix(CALLBACK_PREFIX)
            .or_else(|| self.pk.strip_prefix(DESK_CHAT_PREFIX))
            .filter(|id| !id.is_empty())
    }

    pub fn open_callback(window_start: DateTime<Utc>, connect_contact_id: &str) -> Self {
        Self::new(
            OPEN_CALLBACKS_PARTITION,
            format!(
                "{}#{connect_contact_id}",
                window_start.format("%Y-%m-%dT%H:%M:%SZ")
            ),
        )
    }

    /// The hour bucket (and shard) of the expiry index for a deadline.
    pub fn expiry_bucket(&self, expires_at: DateTime<Utc>) -> String {
        expiry_bucket(expires_at, self.expiry_shard())
    }

    fn expiry_shard(&self) -> u8 {
        let digest = Sha256::new()
            .chain_update(self.pk.as_bytes())
            .chain_update([0])
            .chain_update(self.sk.as_bytes())
            .finalize();
        digest[0] % EXPIRY_SHARDS
    }
}

/// A key part of `prefix` and a ULID. Keys are built on every request's path: a
/// concatenation allocates once, `format!` grows its string through the formatter.
fn ulid_part(prefix: &str, id: Ulid) -> String {
    let mut text = [0; ulid::ULID_LEN];
    [prefix, id.array_to_str(&mut text)].concat()
}

/// Sort-key prefixes for querying one kind of a contact's items.
pub const CONVERSATION_PREFIX: &str = "CONV#";
pub const MESSAGE_PREFIX: &str = "MSG#";
/// Sort key of a contact's profile.
pub const PROFILE_SORT_KEY: &str = "PROFILE";
/// Partition prefix of the identity links.
pub const IDENTITY_LINK_PREFIX: &str = "ID#";
/// The review list: one partition of messages Lisa misunderstood (few, and gone in 7 days).
pub const REVIEW_PARTITION: &str = "REVIEW";
pub const CALLBACK_PREFIX: &str = "CB#";
/// Partition prefix of a customer number's authentication attempts.
pub const CUSTOMER_NUMBER_PREFIX: &str = "CUST#";
pub const DESK_CHAT_PREFIX: &str = "CHAT#";
/// The sales list: one partition of small pointers, read with one query (callbacks are few).
pub const OPEN_CALLBACKS_PARTITION: &str = "CBOPEN";

/// The expiry index partition for a deadline hour and shard, e.g. `2026-11-21T10#3`.
pub fn expiry_bucket(expires_at: DateTime<Utc>, shard: u8) -> String {
    use chrono::{Datelike, Timelike};
    let year = expires_at.year();
    // Every stored write computes one: written out directly, as chrono parses a format
    // string anew on every call. Years chrono writes otherwise (signed, or five digits)
    // still go through it.
    if (0..=9999).contains(&year) {
        format!(
            "{year:04}-{:02}-{:02}T{:02}#{shard}",
            expires_at.month(),
            expires_at.day(),
            expires_at.hour()
        )
    } else {
        format!("{}#{shard}", expires_at.format("%Y-%m-%dT%H"))
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}", self.pk, self.sk)
    }
}

/// A contact's pseudonym: keyed HMAC of the WhatsApp id. Reveals nothing without the key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pseudonym(String);

impl Pseudonym {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A fresh contact id that no identifier derives (when the one derived from the first
    /// identifier is taken by someone else, e.g. a number that was given to a new person).
    pub fn random() -> Self {
        Self(format!("{:032x}", Ulid::new().0))
    }

    /// A pseudonym as stored (an `owner` attribute, a link's target).
    pub fn from_stored(value: &str) -> Option<Self> {
        (!value.is_empty() && !value.contains('#')).then(|| Self(value.to_owned()))
    }

    /// The pseudonym of a contact partition key (`C#<pseudonym>`).
    pub fn from_partition(pk: &str) -> Option<Self> {
        pk.strip_prefix("C#")
            .filter(|p| !p.is_empty())
            .map(|p| Self(p.to_owned()))
    }

    /// The partition of all of this contact's items.
    pub fn partition(&self) -> String {
        ["C#", &self.0].concat()
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Keyed hash of a WhatsApp message id, for the de-duplication marker.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeliveryHash(String);

impl DeliveryHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PseudonymError {
    #[error("the pseudonym key must be at least 32 bytes, got {0}")]
    KeyTooShort(usize),
    #[error("a WhatsApp id needs digits")]
    NoDigits,
    #[error("not a WhatsApp user id (country code, dot, up to 128 letters and digits)")]
    BadUserId,
}

/// Derives pseudonyms with a secret key (from Secrets Manager; the local stack has a fixed one).
#[derive(Clone)]
pub struct Pseudonymizer {
    /// HMAC-SHA256 with the key already absorbed: each pseudonym starts from a copy of it
    /// instead of hashing the key again (half of a pseudonym's SHA-256 work).
    keyed: Hmac<Sha256>,
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonymizer(<key>)")
    }
}

impl Pseudonymizer {
    pub const MIN_KEY_LEN: usize = 32;

    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, PseudonymError> {
        let key = key.into();
        if key.len() < Self::MIN_KEY_LEN {
            return Err(PseudonymError::KeyTooShort(key.len()));
        }
        let keyed = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC accepts keys of any length");
        Ok(Self { keyed })
    }

    /// The pseudonym of a WhatsApp id (`491701234567`). Spelling does not matter:
    /// `+49 170 1234567` and `0049 170 1234567` give the same pseudonym.
    pub fn contact(&self, wa_id: &str) -> Result<Pseudonym, PseudonymError> {
        let digits = canonical_wa_id(wa_id).ok_or(PseudonymError::NoDigits)?;
        Ok(Pseudonym(self.tag("contact", &digits)))
    }

    /// The pseudonym of a phone number as the owner of what its calls left (callback
    /// requests). Its own domain: never a contact's id, so a number given to someone new
    /// never makes the previous holder's contact the owner of the new holder's calls.
    pub fn caller(&self, phone: &str) -> Result<Pseudonym, PseudonymError> {
        let digits = canonical_wa_id(phone).ok_or(PseudonymError::NoDigits)?;
        Ok(Pseudonym(self.tag("caller", &digits)))
    }

    /// The pseudonym of a business-scoped user id (`DE.1349120865530274`).
    pub fn user(&self, user_id: &str) -> Result<Pseudonym, PseudonymError> {
        let user_id = canonical_user_id(user_id).ok_or(PseudonymError::BadUserId)?;
        Ok(Pseudonym(self.tag("user", &user_id)))
    }

    /// The pseudonym of a customer number as typed into the chat (for its lock-out item).
    /// Spelling does not matter: `K-100 200 3` and `k1002003` give the same pseudonym. Its
    /// own domain: never a contact's or caller's id.
    pub fn customer_number(&self, number: &str) -> Pseudonym {
        let number = crate::ports::directory::normalize_customer_number(number);
        Pseudonym(self.tag("customer-number", &number))
    }

    pub fn delivery(&self, message_id: &str) -> DeliveryHash {
        DeliveryHash(self.tag("wamid", message_id))
    }

    /// The key of the delivery marker of a WhatsApp message id.
    pub fn delivery_marker(&self, message_id: &str) -> ItemKey {
        ItemKey::delivery_marker(&self.delivery(message_id))
    }

    /// 128 bits of HMAC-SHA256 over a domain label and the value, as lowercase hex.
    fn tag(&self, domain: &str, value: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

/// The digits of an international number as WhatsApp writes them (no `+`, no `00`).
pub fn canonical_wa_id(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.strip_prefix("00").unwrap_or(&digits).to_owned();
    (!digits.is_empty()).then_some(digits)
}

/// A business-scoped user id as WhatsApp writes it: a two-letter country code, a dot, an
/// optional `ENT.` (a parent id) and 1 to 128 letters and digits. Surrounding blanks go.
pub fn canonical_user_id(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let (country, rest) = raw.split_once('.')?;
    let rest = rest.strip_prefix("ENT.").unwrap_or(rest);
    let valid = country.len() == 2
        && country.chars().all(|c| c.is_ascii_uppercase())
        && (1..=128).contains(&rest.len())
        && rest.chars().all(|c| c.is_ascii_alphanumeric());
    valid.then(|| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudonymizer() -> Pseudonymizer {
        Pseudonymizer::new(*b"test-key-test-key-test-key-test-key!").unwrap()
    }

    #[test]
    fn pseudonym_is_stable_keyed_and_never_contains_the_number() {
        let p = pseudonymizer();
        let a = p.contact("491701234567").unwrap();
        assert_eq!(a, p.contact("+49 170 1234567").unwrap());
        assert_eq!(a, p.contact("0049-170-1234567").unwrap());
        assert_ne!(a, p.contact("491701234568").unwrap());
        let other_key = Pseudonymizer::new(vec![7u8; 32]).unwrap();
        assert_ne!(a, other_key.contact("491701234567").unwrap());
        assert_eq!(a.as_str().len(), 32);
        // Stored keys are built from pseudonyms, so they may never change between releases:
        // HMAC-SHA256(key, "contact" 0x00 digits), its first 16 bytes in hex (computed
        // independently with Python's hmac module).
        assert_eq!(a.as_str(), "6e13580f9e7c7999bae658500dc0af79");
        for key in [
            ItemKey::profile(&a),
            ItemKey::message(&a, Ulid::new()),
            ItemKey::auth_attempts(&a),
        ] {
            assert!(!key.pk.contains("1701234567"), "{key}");
            assert!(key.pk.starts_with("C#"));
        }
    }

    #[test]
    fn contact_and_delivery_hashes_are_domain_separated() {
        let p = pseudonymizer();
        assert_ne!(
            p.contact("12345").unwrap().as_str(),
            p.delivery("12345").as_str()
        );
        let marker = ItemKey::delivery_marker(&p.delivery("wamid.HBgM"));
        assert!(marker.pk.starts_with("WAMID#") && !marker.pk.contains("HBgM"));
    }

    #[test]
    fn user_ids_have_their_own_pseudonyms_and_are_checked() {
        let p = pseudonymizer();
        let user = p.user("DE.1349120865530274").unwrap();
        assert_eq!(user, p.user(" DE.1349120865530274 ").unwrap());
        assert_ne!(user, p.user("DE.1349120865530275").unwrap());
        assert_ne!(
            user,
            p.contact("1349120865530274").unwrap(),
            "domain-separated"
        );
        assert!(p.user("DE.ENT.77aB").is_ok());
        for bad in [
            "",
            "DE.",
            "de.123",
            "DEU.123",
            "DE.12 34",
            "1349120865530274",
        ] {
            assert_eq!(
                p.user(bad).unwrap_err(),
                PseudonymError::BadUserId,
                "{bad:?}"
            );
        }
        let link = ItemKey::identity_link(&user);
        assert!(link.pk.starts_with(IDENTITY_LINK_PREFIX) && !link.pk.contains("1349120865530274"));
        assert_ne!(Pseudonym::random(), Pseudonym::random());
        assert_eq!(Pseudonym::random().as_str().len(), 32);
    }

    #[test]
    fn customer_numbers_have_their_own_keyed_pseudonyms() {
        let p = pseudonymizer();
        let number = p.customer_number("K1002003");
        assert_eq!(number, p.customer_number("k-100 200 3"));
        assert_ne!(number, p.customer_number("K1002004"));
        assert_ne!(
            number,
            Pseudonymizer::new(vec![7u8; 32])
                .unwrap()
                .customer_number("K1002003")
        );
        // Domain-separated from a contact whose WhatsApp id has the same digits.
        assert_ne!(number, p.contact("1002003").unwrap());
        let key = ItemKey::customer_number_attempts(&number);
        assert!(key.pk.starts_with(CUSTOMER_NUMBER_PREFIX), "{key}");
        assert!(
            !key.pk.contains("1002003") && !key.pk.contains("K100"),
            "{key}"
        );
        assert_eq!(key.sk, "AUTH");
        assert_eq!(Pseudonym::from_partition(&key.pk), None, "not a contact");
    }

    #[test]
    fn bad_keys_and_ids_are_refused() {
        assert_eq!(
            Pseudonymizer::new(b"short".to_vec()).unwrap_err(),
            PseudonymError::KeyTooShort(5)
        );
        assert_eq!(
            pseudonymizer().contact("+").unwrap_err(),
            PseudonymError::NoDigits
        );
        assert!(format!("{:?}", pseudonymizer()).contains("<key>"));
    }

    #[test]
    fn expiry_bucket_is_the_deadline_hour_and_a_stable_shard() {
        let key = ItemKey::new("C#abc", "PROFILE");
        let at = DateTime::parse_from_rfc3339("2026-11-21T10:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        let bucket = key.expiry_bucket(at);
        assert!(bucket.starts_with("2026-11-21T10#"), "{bucket}");
        assert_eq!(bucket, key.expiry_bucket(at));
        let shards: std::collections::HashSet<_> = (0..64)
            .map(|i| ItemKey::new(format!("C#{i}"), "PROFILE").expiry_bucket(at))
            .collect();
        assert_eq!(shards.len(), EXPIRY_SHARDS as usize);
    }

    proptest::proptest! {
        /// The buckets items were stored under before it was written out directly: an item's
        /// bucket must not move, or the sweeper's index queries would pass it by.
        #[test]
        fn an_expiry_bucket_reads_as_chronos_format_of_the_hour(
            seconds in DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(),
            recent in 0i64..4_102_444_800,
            shard in 0..EXPIRY_SHARDS,
        ) {
            // And the edges of four-digit years, where chrono's format changes.
            let edges = [(-1, 12, 31), (0, 1, 1), (9999, 12, 31), (10000, 1, 1)].map(|(y, m, d)| {
                chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(23, 0, 0).unwrap()
                    .and_utc().timestamp()
            });
            for at in [seconds, recent].into_iter().chain(edges) {
                let at = DateTime::from_timestamp(at, 0).unwrap();
                proptest::prop_assert_eq!(
                    expiry_bucket(at, shard),
                    format!("{}#{shard}", at.format("%Y-%m-%dT%H"))
                );
            }
        }
    }
}
