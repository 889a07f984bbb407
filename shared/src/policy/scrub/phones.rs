//! Pass 6: phone numbers in any spelling (international, national, grouped, in brackets)
//! become `<telefon>`.

use std::sync::LazyLock;

use regex::Regex;

use super::{PHONE, is_unit_word, next_word, regex};

/// Candidates for phone numbers; `phone_span` decides. A separator is a space, a slash or
/// dash with optional spaces around it, or a dot without (". " ends a sentence).
static PHONE_CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?x)
          (?:\+|\b00)[\ \t]?[1-9]\d*(?:[\ \t]?\(0\))?(?:(?:[\ \t]?[/-][\ \t]?|\.|[\ \t])\(?\d+\)?)*
        | (?:\(0\d{1,5}\)|\b0\d*)(?:(?:[\ \t]?[/-][\ \t]?|\.|[\ \t])\(?\d+\)?)*
        | \b\d+(?:(?:[\ \t]?[/-][\ \t]?|[\ \t])\d+)+
        | \b\d{9,15}\b",
    )
});

/// Words right before a number that say it is a phone number; then five digits are enough.
static PHONE_KEYWORD_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)(?:\btel|telefon\w*|handy\w*|\w*nummer|mobil\w*|festnetz\w*|\bfax|\bunter|erreichbar|\bnr|whatsapp)\.?\s*:?\s*$",
    )
});

/// The last `max` bytes of `text` or a few more, cut at a character boundary.
fn tail(text: &str, max: usize) -> &str {
    let mut cut = text.len().saturating_sub(max);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[cut..]
}

pub(super) fn scrub_phones(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut from = 0;
    while let Some(m) = PHONE_CANDIDATE.find_at(text, from) {
        match phone_span(text, m.start(), m.end()) {
            Some((start, end)) => {
                out.push_str(&text[last..start]);
                out.push_str(PHONE);
                last = end;
                // The rest of the candidate may hold the next number.
                from = end;
            }
            None => from = m.end(),
        }
    }
    out.push_str(&text[last..]);
    out
}

/// The digit runs in `text[start..end]`, as byte spans.
fn digit_groups(text: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut groups = Vec::new();
    let mut group_start = None;
    for (i, c) in text[start..end].char_indices() {
        match (c.is_ascii_digit(), group_start) {
            (true, None) => group_start = Some(start + i),
            (false, Some(s)) => {
                groups.push((s, start + i));
                group_start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = group_start {
        groups.push((s, end));
    }
    groups
}

/// The first phone number in the candidate `text[start..end]`, if any.
fn phone_span(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let groups = digit_groups(text, start, end);
    let opens_with_zero = |&(s, e): &(usize, usize)| text[s..].starts_with('0') && e - s >= 3;

    // A run of plain numbers may end in a national number: "seit 2019 0170 1234567". The
    // leading groups are left for the later passes.
    let plain_start = text[start..].starts_with(|c: char| c.is_ascii_digit() && c != '0');
    let first = if plain_start {
        groups
            .iter()
            .skip(1)
            .position(opens_with_zero)
            .map_or(0, |k| k + 1)
    } else {
        0
    };

    // Take groups up to 15 digits; a new national prefix after a complete number starts the
    // next one ("0170 1234567 0171 7654321").
    let mut taken = first;
    let mut digits = 0;
    for (k, group) in groups.iter().enumerate().skip(first) {
        let len = group.1 - group.0;
        if digits + len > 15 || (k > first && digits >= 7 && opens_with_zero(group)) {
            break;
        }
        digits += len;
        taken = k + 1;
    }

    // Drop trailing groups that are quantities ("0170 1234567 20 GB") or glued to a word
    // ("… 1234567 5G").
    while taken > first + 1 {
        let (group_start, group_end) = groups[taken - 1];
        let glued = text[group_end..].starts_with(char::is_alphabetic);
        if !(glued || is_unit_word(&next_word(text, group_end))) {
            break;
        }
        digits -= group_end - group_start;
        taken -= 1;
    }
    if taken == first {
        return None;
    }

    let span_start = if first == 0 {
        start
    } else {
        let group_start = groups[first].0;
        if text[..group_start].ends_with('(') {
            group_start - 1
        } else {
            group_start
        }
    };
    let mut span_end = groups[taken - 1].1;
    let candidate = &text[span_start..span_end];
    if candidate.matches('(').count() > candidate.matches(')').count()
        && text[span_end..].starts_with(')')
    {
        span_end += 1;
    }

    let separated = taken - first > 1 || candidate.contains('(');
    let international = candidate.starts_with('+') || candidate.starts_with("00");
    let national = candidate.starts_with('0') || candidate.starts_with("(0");
    let announced = PHONE_KEYWORD_BEFORE.is_match(tail(&text[..span_start], 40));
    let enough = if announced {
        digits >= 5
    } else if international {
        digits >= 8
    } else if national && separated {
        digits >= 7
    } else {
        digits >= 9
    };
    enough.then_some((span_start, span_end))
}
