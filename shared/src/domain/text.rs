//! Text as Lisa and the callback topics compare it: one normal form for what customers write
//! and what the catalogues list.

/// Lower case, umlauts as `ae`/`oe`/`ue`, `ß` as `ss`, emoji as words or nothing, letters
/// repeated three times or more once, punctuation as spaces, single spaces.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            'ä' | 'Ä' => out.push_str("ae"),
            'ö' | 'Ö' => out.push_str("oe"),
            'ü' | 'Ü' => out.push_str("ue"),
            'ß' | 'ẞ' => out.push_str("ss"),
            '👋' => out.push_str(" hallo "),
            '🙏' => out.push_str(" danke "),
            '📱' => out.push_str(" handy "),
            '📦' => out.push_str(" paket "),
            '✈' | '🏖' | '🌍' => out.push_str(" ausland "),
            // "mach's" is one word.
            '\'' | '’' | '`' => {}
            // `İ` lower-cases to `i` and a combining dot, which is no letter: dropped, so
            // the result is letters and digits only and normalising again changes nothing.
            c if c.is_alphanumeric() => {
                out.extend(c.to_lowercase().filter(|l| l.is_alphanumeric()))
            }
            _ => out.push(' '),
        }
    }
    let mut collapsed = String::with_capacity(out.len());
    let chars: Vec<char> = out.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|&&c| c == chars[i]).count();
        let keep = if run >= 3 { 1 } else { run };
        collapsed.extend(std::iter::repeat_n(chars[i], keep));
        i += run;
    }
    collapsed.split_whitespace().collect::<Vec<_>>().join(" ")
}
