//! Which characters people's text may hold: the one rule that message text,
//! display names and product names share.
//!
//! Text that people read must look like what it is. So it refuses:
//! - control characters (NUL, ESC, DEL, C1 controls, ...), except a newline
//!   and a tab where the field allows several lines (message text); a
//!   carriage return is accepted only as part of a CRLF line break, which
//!   [`normalize_newlines`] turns into a newline first;
//! - bidirectional embeddings, overrides and isolates (U+202A..U+202E,
//!   U+2066..U+2069): they reorder what is shown, so that `gnp.exe` can be
//!   displayed as `exe.png`, and nothing in a chat needs them (right-to-left
//!   scripts are ordered by the Unicode algorithm without them; the marks
//!   U+200E/U+200F stay allowed);
//! - text made only of invisible characters (spaces, zero-width characters,
//!   fillers, variation selectors, tags), which would show as an empty
//!   bubble or a blank name.

use std::borrow::Cow;

use crate::error::InputError;

/// Whether a field may span several lines (then `\n` and `\t` are allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// Turns CRLF (and only CRLF) into LF, so that text typed on any platform
/// is stored the same way; a lone CR is left for [`check`] to refuse.
pub fn normalize_newlines(s: &str) -> Cow<'_, str> {
    if s.contains("\r\n") {
        Cow::Owned(s.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Checks `s` (already trimmed) against the rules above; `field` names it on
/// the wire.
pub fn check(field: &str, s: &str, lines: Lines) -> Result<(), InputError> {
    for c in s.chars() {
        let allowed_control = lines == Lines::Many && (c == '\n' || c == '\t');
        if c.is_control() && !allowed_control {
            return Err(InputError::new(
                field,
                format!(
                    "must not contain control characters (found U+{:04X})",
                    c as u32
                ),
            ));
        }
        if is_bidi_control(c) {
            return Err(InputError::new(
                field,
                format!(
                    "must not contain bidirectional override characters (found U+{:04X})",
                    c as u32
                ),
            ));
        }
    }
    if s.chars().all(is_invisible) {
        return Err(InputError::new(
            field,
            "must contain at least one visible character",
        ));
    }
    Ok(())
}

/// Bidirectional embeddings, overrides and isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing by themselves.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}' // soft hyphen
                | '\u{034F}' // combining grapheme joiner
                | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
                | '\u{180E}' // Mongolian vowel separator
                | '\u{200B}'..='\u{200F}' // zero-width space, joiners, marks
                | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
                | '\u{2800}' // braille blank
                | '\u{FE00}'..='\u{FE0F}' // variation selectors
                | '\u{FEFF}' // zero-width no-break space
                | '\u{E0000}'..='\u{E007F}' // tags
                | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_passes() {
        for s in [
            "Is it still available?",
            "54 cm, line one\nline two\tcolumn",
            "שלום, מה שלומך?",
            "مرحبا \u{200F}",
            "emoji 👍🏽 and a family 👨\u{200D}👩\u{200D}👧",
        ] {
            assert_eq!(check("text", s, Lines::Many), Ok(()), "{s:?}");
        }
    }

    #[test]
    fn control_characters_are_refused_except_newline_and_tab_in_many_lines() {
        for c in ['\0', '\u{1B}', '\u{7F}', '\u{85}', '\r', '\u{8}'] {
            let s = format!("a{c}b");
            let e = check("text", &s, Lines::Many).unwrap_err();
            assert_eq!(e.field, "text");
            assert!(e.reason.contains("control"), "{c:?}: {e}");
        }
        assert!(check("name", "a\nb", Lines::One).is_err());
        assert!(check("name", "a\tb", Lines::One).is_err());
    }

    #[test]
    fn bidi_overrides_are_refused() {
        for c in ['\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}'] {
            let s = format!("invoice{c}fdp.exe");
            assert!(check("text", &s, Lines::Many).is_err(), "{c:?}");
        }
    }

    #[test]
    fn invisible_only_text_is_refused() {
        for s in [
            "\u{200B}",
            "\u{200B}\u{200C}\u{FEFF}",
            "\u{3164}",
            "\u{2800}\u{2800}",
        ] {
            let e = check("text", s, Lines::Many).unwrap_err();
            assert!(e.reason.contains("visible"), "{s:?}: {e}");
        }
        // Invisible characters inside visible text are fine.
        assert!(check("text", "a\u{200B}b", Lines::Many).is_ok());
    }

    #[test]
    fn crlf_becomes_lf_and_a_lone_cr_stays_for_the_check() {
        assert_eq!(normalize_newlines("a\r\nb"), "a\nb");
        assert_eq!(normalize_newlines("a\rb"), "a\rb");
        assert!(check("text", &normalize_newlines("a\r\nb"), Lines::Many).is_ok());
    }
}
