//! The per-contact rate limit: Lisa answers at most `rate_limit_messages` messages of one
//! contact per `rate_limit_window`. Beyond that a message is still filed in the conversation
//! (the webhook stored it; the decision counts it and gives it its conversation), but Lisa
//! does not read it: the first one of the window gets her notice, the rest nothing. The
//! window starts with the first message answered after the previous one ended. The state
//! rides on the contact's profile (`Contact::pace`), which every decision writes anyway.

use super::*;
use servicekanal_shared::domain::Pace;

/// What the rate limit lets Lisa do with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Lisa reads and answers it.
    Answer,
    /// The first message over the limit in this window: Lisa says she pauses.
    Notice,
    /// Filed unanswered.
    Quiet,
}

/// Counts a message written at `at` against the contact's window. `always`: a message Lisa
/// must read whatever the pace (a password: it is checked, and so redacted), counted all the
/// same.
pub(crate) fn admit(
    pace: &mut Pace,
    at: DateTime<Utc>,
    config: &BotConfig,
    always: bool,
) -> Admission {
    let window_over = pace
        .window_start
        .is_none_or(|start| at >= start + config.rate_limit_window);
    if window_over {
        *pace = Pace {
            window_start: Some(at),
            answered: 0,
            noticed: false,
        };
    }
    if always || pace.answered < config.rate_limit_messages {
        pace.answered = pace.answered.saturating_add(1);
        Admission::Answer
    } else if !pace.noticed {
        pace.noticed = true;
        Admission::Notice
    } else {
        Admission::Quiet
    }
}

/// Whether Lisa has answered all she may in the window `at` falls in: a message now would
/// get no answer (bot-reply then does not wait for a burst's followers either).
pub(crate) fn spent(pace: &Pace, at: DateTime<Utc>, config: &BotConfig) -> bool {
    pace.window_start
        .is_some_and(|start| at < start + config.rate_limit_window)
        && pace.answered >= config.rate_limit_messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_then_one_notice_then_quiet_until_the_window_ends() {
        let config = BotConfig {
            rate_limit_messages: 3,
            rate_limit_window: Duration::minutes(10),
            ..BotConfig::default()
        };
        let start = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut pace = Pace::default();
        let admitted: Vec<Admission> = (0..6)
            .map(|i| admit(&mut pace, start + Duration::seconds(i), &config, false))
            .collect();
        use Admission::*;
        assert_eq!(admitted, [Answer, Answer, Answer, Notice, Quiet, Quiet]);
        assert!(spent(&pace, start + Duration::seconds(6), &config));
        // A password is read whatever the pace.
        assert_eq!(admit(&mut pace, start, &config, true), Answer);
        let almost = start + Duration::minutes(10) - Duration::seconds(1);
        assert_eq!(admit(&mut pace, almost, &config, false), Quiet);
        // The window ends: answers again, and the notice may come once more.
        let next = start + Duration::minutes(10);
        assert!(!spent(&pace, next, &config));
        let admitted: Vec<Admission> = (0..5)
            .map(|i| admit(&mut pace, next + Duration::seconds(i), &config, false))
            .collect();
        assert_eq!(admitted, [Answer, Answer, Answer, Notice, Quiet]);
        assert_eq!(pace.window_start, Some(next));
    }
}
