//! The retention policy: one table, from the privacy notices, mapping a record's class and its
//! anchor time to a hard deadline.
//!
//! Calendar months are counted on the German calendar (Europe/Berlin), the one the notices
//! speak of: a message on 31 January plus one month is due on the last day of February, at
//! the same wall-clock time.

use chrono::{DateTime, Duration, LocalResult, Months, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A retention class. Its id (`bot-7d`, ...) is what every stored item carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RetentionClass {
    #[serde(rename = "bot-7d")]
    Bot7d,
    #[serde(rename = "service-13m")]
    Service13m,
    #[serde(rename = "survey-13m")]
    Survey13m,
    #[serde(rename = "callback-3m")]
    Callback3m,
}

/// How long a class keeps data after its anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Days(i64),
    CalendarMonths(u32),
}

/// One row of the retention table.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub class: RetentionClass,
    pub id: &'static str,
    pub period: Period,
    /// What the period counts from.
    pub anchor: &'static str,
    /// Whether a newer contact moves the deadline (sliding window).
    pub sliding: bool,
    /// What the class holds, in the words of the privacy notice.
    pub holds: &'static str,
}

/// The retention table: the only place the periods are written down.
pub const POLICIES: [Policy; 4] = [
    Policy {
        class: RetentionClass::Bot7d,
        id: "bot-7d",
        period: Period::Days(7),
        anchor: "the message",
        sliding: false,
        holds: "messages exchanged with the bot and the personal data in them",
    },
    Policy {
        class: RetentionClass::Service13m,
        id: "service-13m",
        period: Period::CalendarMonths(13),
        anchor: "the contact's last contact over the channel",
        sliding: true,
        holds: "service-channel data of a contact: profile, conversations and messages with agents, contract-change notes",
    },
    Policy {
        class: RetentionClass::Survey13m,
        id: "survey-13m",
        period: Period::CalendarMonths(13),
        anchor: "the answer",
        sliding: false,
        holds: "survey answers with the concern data and channel info they relate to",
    },
    Policy {
        class: RetentionClass::Callback3m,
        id: "callback-3m",
        period: Period::CalendarMonths(3),
        anchor: "the request (deleted sooner, as soon as the callback is done)",
        sliding: false,
        holds: "callback requests taken by the voice assistant",
    },
];

impl RetentionClass {
    pub const ALL: [RetentionClass; 4] = [
        RetentionClass::Bot7d,
        RetentionClass::Service13m,
        RetentionClass::Survey13m,
        RetentionClass::Callback3m,
    ];

    pub fn policy(self) -> &'static Policy {
        POLICIES
            .iter()
            .find(|p| p.class == self)
            .expect("every class has a row in POLICIES")
    }

    pub fn id(self) -> &'static str {
        self.policy().id
    }

    /// The deadline of data of this class anchored at `anchor`, cut to whole seconds (the
    /// resolution of `expires_at`). Never later than the promise allows.
    pub fn deadline(self, anchor: DateTime<Utc>) -> DateTime<Utc> {
        let deadline = match self.policy().period {
            Period::Days(days) => anchor + Duration::days(days),
            Period::CalendarMonths(months) => add_berlin_months(anchor, months),
        };
        crate::ports::clock::whole_seconds(deadline)
    }
}

fn add_berlin_months(anchor: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    let local: NaiveDateTime = anchor.with_timezone(&Berlin).naive_local();
    let target = local
        .checked_add_months(Months::new(months))
        .expect("dates of this century stay in range");
    match Berlin.from_local_datetime(&target) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        // Autumn: the wall-clock hour happens twice; the earlier one keeps the promise.
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        // Spring: the wall-clock time does not exist; take the same reading one hour earlier,
        // before the gap, so the deadline is never late.
        LocalResult::None => Berlin
            .from_local_datetime(&(target - Duration::hours(1)))
            .earliest()
            .expect("one hour before a DST gap exists")
            .with_timezone(&Utc),
    }
}

impl fmt::Display for RetentionClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// What a record's deadline counts from. Every deadline the product sets is
/// [`RetentionClass::deadline_of`] of one of these (through [`crate::ports::store::Record::new`] or
/// [`crate::ports::store::Record::retain`]); this file is the only place that turns an anchor into a
/// date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// The moment the data arose: a bot message, a survey answer, a callback request.
    At(DateTime<Utc>),
    /// Data of a contact: when it arose and the contact's last contact over the channel. A
    /// sliding class counts from the last contact, so all of a contact's service data goes
    /// together (the profile's deadline); any other class from the moment itself.
    Contact {
        at: DateTime<Utc>,
        last_contact: DateTime<Utc>,
    },
    /// Lives exactly as long as the record it serves (a delivery marker, the open-callback
    /// pointer, an identity link): that record's deadline.
    With(DateTime<Utc>),
    /// A purpose that ends sooner than the class allows (a survey session that expires): the
    /// earlier of `until` and the class's deadline from `at`.
    Until {
        at: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

impl From<DateTime<Utc>> for Anchor {
    fn from(at: DateTime<Utc>) -> Self {
        Anchor::At(at)
    }
}

impl RetentionClass {
    /// The deadline of data of this class with this anchor, in whole seconds.
    pub fn deadline_of(self, anchor: Anchor) -> DateTime<Utc> {
        match anchor {
            Anchor::At(at) => self.deadline(at),
            Anchor::Contact { last_contact, .. } if self.slides() => self.deadline(last_contact),
            Anchor::Contact { at, .. } => self.deadline(at),
            Anchor::With(deadline) => crate::ports::clock::whole_seconds(deadline),
            Anchor::Until { at, until } => {
                crate::ports::clock::whole_seconds(until).min(self.deadline(at))
            }
        }
    }

    /// Whether a newer contact moves the deadline of this class's data (the sliding window).
    pub fn slides(self) -> bool {
        self.policy().sliding
    }
}

/// Sliding renewal: the deadline an item slides to when the record it lives as long as (its
/// contact's profile; a link's or merged profile's owner) has `anchor_deadline`. Only ever
/// later; `None`: the item keeps its deadline.
pub fn renewed(
    current: DateTime<Utc>,
    anchor_deadline: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    anchor_deadline.filter(|deadline| *deadline > current)
}

/// The classes of what the bot's handling of one inbound message touches: the contact
/// (profile and identity links), the conversation, the message. Every class change of a
/// contact's data is one of these methods.
///
/// A contact who only talks to the bot stays `bot-7d`. Authentication makes the contact a
/// service contact (`service-13m`); a handover makes the conversation one too; a message in a
/// conversation an agent holds is a message with an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContactClasses {
    pub contact: RetentionClass,
    pub conversation: RetentionClass,
    pub message: RetentionClass,
}

impl ContactClasses {
    /// The classes as stored; a conversation not stored yet starts as a bot conversation.
    pub fn as_stored(
        contact: RetentionClass,
        conversation: Option<RetentionClass>,
        message: RetentionClass,
    ) -> Self {
        Self {
            contact,
            conversation: conversation.unwrap_or(NEW_CONVERSATION),
            message,
        }
    }

    pub fn authenticated(&mut self) {
        self.contact = RetentionClass::Service13m;
    }

    pub fn handed_over(&mut self) {
        self.contact = RetentionClass::Service13m;
        self.conversation = RetentionClass::Service13m;
    }

    pub fn written_to_agent(&mut self) {
        self.message = RetentionClass::Service13m;
    }
}

/// A contact seen for the first time, and every message the webhook stores for it, starts as
/// bot data; the bot's handling moves it (see [`ContactClasses`]).
pub const NEW_CONTACT: RetentionClass = RetentionClass::Bot7d;
/// The marker that recognises a redelivered inbound message (by its WhatsApp id): the
/// contact's bot data, kept as long as WhatsApp may retry.
pub const INBOUND_MARKER: RetentionClass = RetentionClass::Bot7d;
/// A conversation starts with the bot.
pub const NEW_CONVERSATION: RetentionClass = RetentionClass::Bot7d;
/// Lisa's own messages are messages with the bot, whatever follows.
pub const BOT_MESSAGE: RetentionClass = RetentionClass::Bot7d;
/// An agent's reply or note is service data of the contact.
pub const AGENT_MESSAGE: RetentionClass = RetentionClass::Service13m;
/// Failed-authentication state lives as long as a bot conversation.
pub const AUTH_ATTEMPTS: RetentionClass = RetentionClass::Bot7d;
/// A survey in progress is a conversation with the bot; its answer is survey data.
pub const SURVEY_SESSION: RetentionClass = RetentionClass::Bot7d;
pub const SURVEY_ANSWER: RetentionClass = RetentionClass::Survey13m;
/// A message sent to review lives no longer than the message: bot data.
pub const REVIEW_ITEM: RetentionClass = RetentionClass::Bot7d;
/// What the voice assistant takes.
pub const CALLBACK_REQUEST: RetentionClass = RetentionClass::Callback3m;

/// The class of two contacts' data merged into one (one person): service data if either was.
pub fn merged(a: RetentionClass, b: RetentionClass) -> RetentionClass {
    if a == RetentionClass::Service13m || b == RetentionClass::Service13m {
        RetentionClass::Service13m
    } else {
        a
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown retention class {0:?}")]
pub struct UnknownRetentionClass(pub String);

impl FromStr for RetentionClass {
    type Err = UnknownRetentionClass;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        POLICIES
            .iter()
            .find(|p| p.id == s)
            .map(|p| p.class)
            .ok_or_else(|| UnknownRetentionClass(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn table_has_one_row_per_class_and_ids_round_trip() {
        for class in RetentionClass::ALL {
            assert_eq!(POLICIES.iter().filter(|p| p.class == class).count(), 1);
            assert_eq!(class.id().parse::<RetentionClass>().unwrap(), class);
            let json = serde_json::to_string(&class).unwrap();
            assert_eq!(json, format!("\"{}\"", class.id()));
        }
        assert_eq!(
            "bot-8d".parse::<RetentionClass>(),
            Err(UnknownRetentionClass("bot-8d".into()))
        );
    }

    #[test]
    fn bot_messages_are_due_seven_days_later() {
        let at = utc("2026-03-27T10:15:30.900Z");
        // Seven days of 24 hours, whatever the clocks do in Germany that weekend.
        assert_eq!(
            RetentionClass::Bot7d.deadline(at),
            utc("2026-04-03T10:15:30Z")
        );
    }

    #[test]
    fn thirteen_and_three_months_are_calendar_months() {
        // 10:00 Berlin (winter) + 13 months = 10:00 Berlin next February.
        assert_eq!(
            RetentionClass::Service13m.deadline(utc("2026-01-15T09:00:00Z")),
            utc("2027-02-15T09:00:00Z")
        );
        // Summer time to winter time: the wall clock stays, the UTC hour moves.
        assert_eq!(
            RetentionClass::Survey13m.deadline(utc("2026-06-15T08:00:00Z")),
            utc("2027-07-15T08:00:00Z")
        );
        assert_eq!(
            RetentionClass::Callback3m.deadline(utc("2026-08-01T08:00:00Z")),
            utc("2026-11-01T09:00:00Z")
        );
        // The end of a month is clamped to the end of the shorter one.
        assert_eq!(
            RetentionClass::Callback3m.deadline(utc("2026-11-30T11:00:00Z")),
            utc("2027-02-28T11:00:00Z")
        );
    }

    #[test]
    fn a_deadline_inside_the_spring_gap_falls_before_it() {
        // 2027-03-28 02:30 does not exist in Berlin (02:00 -> 03:00).
        let anchor = utc("2026-12-28T01:30:00Z"); // 02:30 Berlin
        let deadline = RetentionClass::Callback3m.deadline(anchor);
        assert!(deadline <= utc("2027-03-28T01:00:00Z"), "{deadline}");
        assert!(deadline >= utc("2027-03-28T00:00:00Z"), "{deadline}");
    }

    #[test]
    fn service_data_of_a_contact_counts_from_the_last_contact_bot_data_from_itself() {
        let at = utc("2026-03-01T10:00:00Z");
        let last_contact = utc("2026-05-01T10:00:00Z");
        let anchor = Anchor::Contact { at, last_contact };
        assert_eq!(
            RetentionClass::Service13m.deadline_of(anchor),
            RetentionClass::Service13m.deadline(last_contact)
        );
        assert_eq!(
            RetentionClass::Bot7d.deadline_of(anchor),
            utc("2026-03-08T10:00:00Z")
        );
        assert_eq!(
            RetentionClass::Survey13m.deadline_of(Anchor::At(at)),
            RetentionClass::Survey13m.deadline(at)
        );
    }

    #[test]
    fn a_follower_keeps_its_records_deadline_and_a_short_purpose_never_outlives_its_class() {
        let served = utc("2026-04-02T10:00:00.700Z");
        assert_eq!(
            RetentionClass::Callback3m.deadline_of(Anchor::With(served)),
            utc("2026-04-02T10:00:00Z")
        );
        let at = utc("2026-03-01T10:00:00Z");
        let soon = utc("2026-03-02T10:00:00Z");
        assert_eq!(
            RetentionClass::Bot7d.deadline_of(Anchor::Until { at, until: soon }),
            soon
        );
        let late = utc("2026-04-01T10:00:00Z");
        assert_eq!(
            RetentionClass::Bot7d.deadline_of(Anchor::Until { at, until: late }),
            utc("2026-03-08T10:00:00Z")
        );
    }

    #[test]
    fn a_contact_moves_to_service_on_authentication_or_handover_never_back() {
        let mut classes = ContactClasses::as_stored(NEW_CONTACT, None, RetentionClass::Bot7d);
        assert_eq!(classes.conversation, RetentionClass::Bot7d);
        classes.authenticated();
        assert_eq!(classes.contact, RetentionClass::Service13m);
        assert_eq!(classes.conversation, RetentionClass::Bot7d);
        classes.handed_over();
        assert_eq!(classes.conversation, RetentionClass::Service13m);
        assert_eq!(classes.message, RetentionClass::Bot7d);
        classes.written_to_agent();
        assert_eq!(classes.message, RetentionClass::Service13m);
        assert_eq!(
            merged(RetentionClass::Bot7d, RetentionClass::Service13m),
            RetentionClass::Service13m
        );
        assert_eq!(
            merged(RetentionClass::Bot7d, RetentionClass::Bot7d),
            RetentionClass::Bot7d
        );
    }

    #[test]
    fn renewal_only_ever_moves_a_deadline_later() {
        let now = utc("2026-03-01T10:00:00Z");
        let later = utc("2026-04-01T10:00:00Z");
        assert_eq!(renewed(now, Some(later)), Some(later));
        assert_eq!(renewed(later, Some(now)), None);
        assert_eq!(renewed(now, None), None);
        assert!(RetentionClass::Service13m.slides());
        assert!(!RetentionClass::Bot7d.slides());
    }

    #[test]
    fn ambiguous_autumn_hour_takes_the_earlier_instant() {
        // 2027-10-31 02:30 happens twice in Berlin; the first is 00:30 UTC.
        let anchor = utc("2027-07-31T00:30:00Z"); // 02:30 Berlin summer time
        assert_eq!(
            RetentionClass::Callback3m.deadline(anchor),
            utc("2027-10-31T00:30:00Z")
        );
    }
}
