//! Support access: the marketplace's support staff (operators) read
//! conversations they take no part in, and every such read is a fact in the
//! conversation's own log, which its participants can see.
//!
//! - [`Operator`]: who read (their id and display name, from their token).
//! - [`SupportReason`]: why, as the operator gave it: 3 to 500 characters
//!   after trimming, one line of readable characters ([`text::check`]).
//! - [`SupportView`]: what they looked at.
//! - [`SUPPORT_ACCESS_WINDOW`]: repeated reads by the same operator with the
//!   same reason within it are one access, so that stepping through a
//!   conversation's states does not flood its log.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

use crate::error::InputError;
use crate::ids::{DisplayName, UserId};
use crate::text::{self, Lines};

/// How long a recorded access covers later reads by the same operator with
/// the same reason: 15 minutes.
pub const SUPPORT_ACCESS_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// How many of a conversation's latest support accesses are looked at to
/// recognise a repeat (an actor keeps no more): a repeat is an access of
/// the same operator with the same reason among them, less than
/// [`SUPPORT_ACCESS_WINDOW`] before.
pub const SUPPORT_ACCESS_MEMORY: usize = 64;

/// A member of the marketplace's support staff, as their token names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operator {
    pub id: UserId,
    pub name: Option<DisplayName>,
}

/// Why an operator reads a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SupportReason(String);

impl SupportReason {
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 500;

    /// Trims `s` and checks it: 3 to 500 characters, one line, no control
    /// or bidirectional override characters, something visible.
    pub fn parse(s: &str) -> Result<Self, InputError> {
        let t = s.trim();
        let n = t.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&n) {
            return Err(InputError::new(
                "reason",
                "must be 3 to 500 characters: say why you read this conversation",
            ));
        }
        text::check("reason", t, Lines::One)?;
        Ok(Self(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SupportReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SupportReason {
    /// Recorded reasons are read as recorded, without re-validation: the log
    /// is never rewritten when a rule changes.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(String::deserialize(d)?))
    }
}

/// What an operator looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SupportView {
    /// The conversation and its latest messages.
    Conversation,
    /// The recorded events (the audit log).
    Events,
    /// The conversation's state at a revision (the replay).
    State,
    /// The dispute transcript.
    Transcript,
}

impl SupportView {
    pub const ALL: [SupportView; 4] = [
        SupportView::Conversation,
        SupportView::Events,
        SupportView::State,
        SupportView::Transcript,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Conversation => "conversation",
            Self::Events => "events",
            Self::State => "state",
            Self::Transcript => "transcript",
        }
    }
}

impl fmt::Display for SupportView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        assert_eq!(
            SupportReason::parse("  ticket 4711 ").unwrap().as_str(),
            "ticket 4711"
        );
        assert!(SupportReason::parse("abc").is_ok());
        assert!(SupportReason::parse(&"é".repeat(500)).is_ok());
        for bad in ["", "  ", "ab", " ab  ", &"x".repeat(501)] {
            let e = SupportReason::parse(bad).unwrap_err();
            assert_eq!(e.field, "reason", "{bad:?}");
            assert!(e.reason.contains("3 to 500"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn reasons_are_one_readable_line() {
        for bad in [
            "line\nbreak",
            "tab\there",
            "nul\0x",
            "bidi\u{202E}txt",
            "\u{200B}\u{200B}\u{200B}",
        ] {
            let e = SupportReason::parse(bad).unwrap_err();
            assert_eq!(e.field, "reason", "{bad:?}");
        }
    }

    #[test]
    fn views_are_lowercase_on_the_wire() {
        for view in SupportView::ALL {
            let json = serde_json::to_string(&view).unwrap();
            assert_eq!(json, format!("\"{view}\""));
            assert_eq!(serde_json::from_str::<SupportView>(&json).unwrap(), view);
        }
        assert_eq!(SUPPORT_ACCESS_WINDOW.as_secs(), 900);
    }
}
