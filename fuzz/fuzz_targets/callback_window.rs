//! The callback window parser. Input: four bytes choosing "now" (any second of 2025–2040),
//! then what the caller said (UTF-8). An accepted window is usable as promised: ahead, at
//! most 14 days out, one Berlin day between 8 and 20 o'clock; and said back, it reads as the
//! same window.

#![no_main]

use chrono::{DateTime, Duration, NaiveTime};
use chrono_tz::Europe::Berlin;
use libfuzzer_sys::fuzz_target;
use servicekanal_shared::domain::callback::{BUSINESS_HOURS, describe_window, parse_window};

/// 2025-01-01 00:00 UTC, and sixteen years of seconds after it.
const FROM: i64 = 1_735_689_600;
const SPAN: u32 = 16 * 365 * 86_400;

fuzz_target!(|data: &[u8]| {
    let Some((seconds, said)) = data.split_first_chunk::<4>() else {
        return;
    };
    let Ok(said) = std::str::from_utf8(said) else {
        return;
    };
    let now = DateTime::from_timestamp(FROM + i64::from(u32::from_le_bytes(*seconds) % SPAN), 0)
        .expect("in range");
    let Ok(window) = parse_window(said, now) else {
        return;
    };
    let (start, end) = (
        window.start.with_timezone(&Berlin),
        window.end.with_timezone(&Berlin),
    );
    assert!(window.start < window.end, "{said:?} at {now}: {window:?}");
    assert!(window.end > now, "{said:?} at {now}: over");
    assert!(
        window.start <= now + Duration::days(14),
        "{said:?} at {now}: too far"
    );
    assert_eq!(start.date_naive(), end.date_naive(), "{said:?} at {now}");
    assert!(
        start.time() >= NaiveTime::from_hms_opt(BUSINESS_HOURS.0, 0, 0).expect("a time")
            && end.time() <= NaiveTime::from_hms_opt(BUSINESS_HOURS.1, 0, 0).expect("a time"),
        "{said:?} at {now}: {start}–{end}"
    );
    let described = describe_window(window, now);
    assert_eq!(
        parse_window(&described, now),
        Ok(window),
        "{said:?} at {now} said back as {described:?}"
    );
});
