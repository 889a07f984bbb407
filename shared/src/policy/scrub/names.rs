//! Pass 7: the known names and the names a text introduces ("ich bin Max", "Frau Müller",
//! "LG Max") become `<name>`, wherever they occur in the text.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use super::words::{FUNCTION_WORDS, GREETINGS, NOT_NAMES, PROFILE_NOISE, RELATIVES, TITLES};
use super::{KnownNames, NAME, Token, canon, regex, tokens};

/// Words of a text, for the name replacement; placeholders are matched so they are skipped.
pub(super) static NAME_WORD: LazyLock<Regex> =
    LazyLock::new(|| regex(r"<[a-z]+>|[\p{L}\p{M}]+(?:['’][\p{L}\p{M}]+)*"));

static NAME_RUN: LazyLock<Regex> = LazyLock::new(|| regex(r"<name>(?:[ \t]*-?[ \t]*<name>)+"));

/// Sign-offs after which a name may end the message: "Gruß Max", "LG", "Viele Grüße, X Y".
static SIGN_OFF: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(?:(?:mit\s+)?(?:(?:viele|vielen|liebe|lieben|beste|besten|schöne|schoene|herzliche|herzlichen|freundliche|freundlichen|sonnige|nette)\s+)?(?:grüßen|grüssen|gruessen|grüße|grüsse|gruesse|grüßle|grüssle|gruß|gruss)|lg|vg|mfg|glg|sg|bg|ciao|tschüss|tschüs|tschuess|bye|cheers|dankeschön|danke\s+schön|danke|vielen\s+dank)\b",
    )
});

pub(super) fn scrub_names(text: &str, known: &KnownNames) -> String {
    let mut parts: HashSet<String> = HashSet::new();
    for name in &known.names {
        for part in name.split(|c: char| !(c.is_alphabetic() || c == '\'' || c == '’')) {
            let part = canon(part);
            if part.chars().count() >= 2
                && !FUNCTION_WORDS.contains(&part)
                && !PROFILE_NOISE.contains(&part)
            {
                parts.insert(part);
            }
        }
    }

    // Names the text introduces are replaced where they stand (also initials such as "M.")
    // and everywhere else in the text.
    let introduced = introduced_names(text);
    for &(start, end) in &introduced {
        let part = canon(&text[start..end]);
        if part.chars().count() >= 2 {
            parts.insert(part);
        }
    }

    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in NAME_WORD.find_iter(text) {
        let word = m.as_str();
        if word.starts_with('<') {
            continue;
        }
        let folded = canon(word);
        let genitive = folded
            .strip_suffix('s')
            .is_some_and(|stem| stem.chars().count() >= 3 && parts.contains(stem));
        let at_introduced = introduced
            .iter()
            .any(|&(start, end)| start < m.end() && m.start() < end);
        if parts.contains(&folded) || genitive || at_introduced {
            out.push_str(&text[last..m.start()]);
            out.push_str(NAME);
            last = m.end();
        }
    }
    out.push_str(&text[last..]);
    NAME_RUN.replace_all(&out, NAME).into_owned()
}

/// The byte spans of the names a text introduces ("ich bin Max", "mein Name ist X Y",
/// "Frau Müller", "LG Max" at the end).
fn introduced_names(text: &str) -> Vec<(usize, usize)> {
    let toks = tokens(text);
    let canon_at = |i: usize| toks.get(i).map(Token::canon).unwrap_or_default();
    let mut spans = Vec::new();

    for i in 0..toks.len() {
        let here = canon_at(i);
        let next = canon_at(i + 1);
        let after_greeting = i == 0
            || toks[i - 1].closes
            || GREETINGS.contains(&canon_at(i - 1))
            || (i >= 2 && GREETINGS.contains(&canon_at(i - 2)) && toks[i - 1].is_word());

        if here == "ich" && next == "bin" && !toks[i + 1].closes {
            collect_weak(text, &toks, i + 2, after_greeting, &mut spans);
        } else if here == "ich" && next == "bins" {
            // "ich bin's, Paul"
            collect_weak(text, &toks, i + 2, true, &mut spans);
        } else if here == "hier" && (toks[i].closes || i + 1 == toks.len()) && i > 0 {
            // "Sepp hier.", "Hallo Lisa, Max Mustermann hier!"
            collect_before_hier(text, &toks, i, &mut spans);
        } else if here == "hier" && next == "ist" && !toks[i + 1].closes && after_greeting {
            collect_weak(text, &toks, i + 2, true, &mut spans);
        } else if matches!(here.as_str(), "mein" | "meine")
            && matches!(next.as_str(), "name" | "vorname" | "nachname")
            && matches!(canon_at(i + 2).as_str(), "ist" | "lautet")
        {
            collect_strong(text, &toks, i + 3, 3, &mut spans);
        } else if here == "ich" && matches!(next.as_str(), "heisse" | "heise" | "heiss" | "heis") {
            collect_strong(text, &toks, i + 2, 3, &mut spans);
        } else if matches!(
            here.as_str(),
            "name" | "vorname" | "nachname" | "kontoinhaber"
        ) && text[toks[i].start..toks[i].end].ends_with(':')
        {
            collect_strong(text, &toks, i + 1, 3, &mut spans);
        } else if matches!(here.as_str(), "auf" | "unter")
            && matches!(next.as_str(), "den" | "dem")
            && canon_at(i + 2) == "namen"
        {
            collect_strong(text, &toks, i + 3, 3, &mut spans);
        } else if matches!(next.as_str(), "heisst" | "heist") && RELATIVES.contains(&here) {
            // "meine Frau heißt Sabine": a third person's name is personal data too.
            collect_strong(text, &toks, i + 2, 3, &mut spans);
        } else if matches!(here.as_str(), "herr" | "herrn" | "frau" | "hr" | "fr")
            && !toks[i].is_placeholder(text)
        {
            collect_titled(text, &toks, i + 1, &mut spans);
        }
    }

    collect_signature(text, &mut spans);
    spans
}

/// A token that may be a name part: letters only, not a common word.
fn name_like(text: &str, tok: &Token) -> bool {
    tok.is_word() && !tok.is_placeholder(text) && !NOT_NAMES.contains(&tok.canon())
}

/// After "mein Name ist", "ich heiße", "Name:": up to `max` words; titles are skipped.
fn collect_strong(
    text: &str,
    toks: &[Token],
    mut i: usize,
    max: usize,
    spans: &mut Vec<(usize, usize)>,
) {
    while toks
        .get(i)
        .is_some_and(|t| TITLES.contains(&t.canon()) && !t.is_placeholder(text))
    {
        i += 1;
    }
    let Some(first) = toks.get(i) else { return };
    let capitalised = first.is_capitalised();
    let mut taken = 0;
    while let Some(tok) = toks.get(i) {
        let case_fits = taken == 0 || !capitalised || tok.is_capitalised();
        if taken == max || !case_fits || !name_like(text, tok) {
            break;
        }
        spans.push((tok.core_start, tok.core_start + tok.core.len()));
        taken += 1;
        i += 1;
        if tok.closes || (!capitalised && taken == 2) {
            break;
        }
    }
}

/// After "ich bin" / "hier ist": a capitalised word that is not a common noun ("ich bin Max",
/// not "ich bin Kunde"); a lowercase one only right after a greeting or at the start
/// ("hallo ich bin max").
fn collect_weak(
    text: &str,
    toks: &[Token],
    mut i: usize,
    lowercase_ok: bool,
    spans: &mut Vec<(usize, usize)>,
) {
    let article = toks
        .get(i)
        .is_some_and(|t| matches!(t.canon().as_str(), "der" | "die") && !t.closes);
    if article {
        let next_capitalised = toks.get(i + 1).is_some_and(Token::is_capitalised);
        if !(lowercase_ok || next_capitalised) {
            return;
        }
        i += 1;
    }
    let Some(first) = toks.get(i) else { return };
    let capitalised = first.is_capitalised();
    if !name_like(text, first) || !(capitalised || lowercase_ok) {
        return;
    }
    spans.push((first.core_start, first.core_start + first.core.len()));
    if first.closes {
        return;
    }
    if let Some(second) = toks.get(i + 1) {
        let boundary_after = second.closes
            || toks
                .get(i + 2)
                .is_none_or(|t| NOT_NAMES.contains(&t.canon()));
        let fits = if capitalised {
            second.is_capitalised()
        } else {
            !second.is_capitalised() && boundary_after
        };
        if fits && name_like(text, second) {
            spans.push((second.core_start, second.core_start + second.core.len()));
        }
    }
}

/// One or two name words opening the message (or following a greeting) before a final
/// "hier": "Sepp hier.", "Hallo, Max Mustermann hier!".
fn collect_before_hier(text: &str, toks: &[Token], hier: usize, spans: &mut Vec<(usize, usize)>) {
    for words in [1, 2] {
        let Some(first) = hier.checked_sub(words) else {
            return;
        };
        let name = &toks[first..hier];
        let opens =
            first == 0 || toks[first - 1].closes || GREETINGS.contains(&toks[first - 1].canon());
        let fits = name.iter().all(|t| name_like(text, t) && !t.closes)
            && (name.iter().all(Token::is_capitalised) || toks[hier].closes);
        if opens && fits {
            spans.extend(
                name.iter()
                    .map(|t| (t.core_start, t.core_start + t.core.len())),
            );
            return;
        }
    }
}

/// After "Herr" / "Frau": one or two capitalised words ("Frau Dr. Anna Schmidt").
fn collect_titled(text: &str, toks: &[Token], mut i: usize, spans: &mut Vec<(usize, usize)>) {
    while toks
        .get(i)
        .is_some_and(|t| matches!(t.canon().as_str(), "dr" | "prof"))
    {
        i += 1;
    }
    for _ in 0..2 {
        let Some(tok) = toks.get(i) else { return };
        if !tok.is_capitalised() || !name_like(text, tok) {
            return;
        }
        spans.push((tok.core_start, tok.core_start + tok.core.len()));
        if tok.closes {
            return;
        }
        i += 1;
    }
}

/// A sign-off followed by one to three name words and nothing else: "LG Max", "Viele Grüße,
/// Max Mustermann", "Gruß Familie Müller".
fn collect_signature(text: &str, spans: &mut Vec<(usize, usize)>) {
    let sign_offs: Vec<_> = SIGN_OFF.find_iter(text).collect();
    for m in sign_offs.into_iter().rev() {
        // Usually the sign-off opens a line or a clause. Inside a sentence ("alles gut lg max")
        // it counts unless the word before is an article or preposition ("ein LG Fernseher",
        // "einen Gruß ausrichten").
        let before = text[..m.start()].trim_end();
        let gap = &text[before.len()..m.start()];
        let last_before = before
            .split_whitespace()
            .last()
            .map(canon)
            .unwrap_or_default();
        let opens = before.is_empty()
            || before.ends_with(|c: char| !c.is_alphanumeric())
            || gap.contains('\n')
            || matches!(last_before.as_str(), "und" | "danke" | "dank");
        if !opens && FUNCTION_WORDS.contains(&last_before) {
            continue;
        }
        let thanks = canon(m.as_str()).starts_with("dank") || canon(m.as_str()) == "vielendank";
        let rest_start = m.end();
        let toks = tokens(&text[rest_start..]);
        if toks.is_empty() {
            continue;
        }
        // Everything after the sign-off must be names (or title/family words) and a final
        // run of punctuation or emoji.
        let mut names = Vec::new();
        let mut ok = true;
        for (k, tok) in toks.iter().enumerate() {
            let word = tok.canon();
            if k == 0 && word == "von" && toks.len() > 1 {
                // "Grüße von Anna"
                continue;
            }
            let is_last = k + 1 == toks.len();
            if tok.core.is_empty() {
                if is_last {
                    break;
                }
                continue;
            }
            if matches!(
                word.as_str(),
                "ihr" | "ihre" | "euer" | "eure" | "dein" | "deine" | "familie" | "fam"
            ) || TITLES.contains(&word)
            {
                continue;
            }
            let bot = thanks && word == "lisa";
            if names.len() == 3 || bot || !name_like(text, &offset(tok, rest_start)) {
                ok = false;
                break;
            }
            if tok.closes && !is_last {
                // "LG Max, ich melde mich" is no signature.
                let tail = &text[rest_start + tok.end..];
                if tail.chars().any(char::is_alphanumeric) {
                    ok = false;
                    break;
                }
            }
            names.push((
                rest_start + tok.core_start,
                rest_start + tok.core_start + tok.core.len(),
            ));
        }
        if ok && !names.is_empty() {
            spans.extend(names);
            return;
        }
    }
}

fn offset<'a>(tok: &Token<'a>, by: usize) -> Token<'a> {
    Token {
        start: tok.start + by,
        end: tok.end + by,
        core_start: tok.core_start + by,
        ..*tok
    }
}
