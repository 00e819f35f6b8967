//! Conversation search.
//!
//! # What is searched
//!
//! A conversation matches a search when **every** whitespace-separated term
//! of it occurs, as a case-insensitive substring, in at least one of:
//! the other participant's name (as shown: the latest recorded name, or the
//! id when none was recorded), the product the conversation was started
//! from, and the text or product name of any of its messages. Terms may be
//! any Unicode text; case is folded with Unicode lower-casing (`Ä` finds
//! `ä`), other differences (accents, width) are significant.
//!
//! # How
//!
//! Every searchable string is a row of `search_docs` (lower-cased, with
//! whom it is visible to: a name only to the other side) and is indexed in
//! the FTS5 table `search_index` with the `trigram` tokenizer, which answers
//! substring queries of three or more characters from the index. SQLite's own
//! case folding in `LIKE` is ASCII-only, so text is lower-cased in Rust before
//! it is stored and before it is searched, and terms are matched as FTS5
//! phrases (a phrase of trigrams is exactly a substring).
//!
//! Each indexed document also has an `owner` column naming the participants
//! who may find it (a short token per participant, see `owner_token`), and
//! every term is looked up together with the viewer's token
//! (`owner : "<token>" AND body : "bike"`). FTS5 intersects the two lists inside the index, so
//! the cost of a search follows the viewer's own documents rather than the
//! whole log's (a common word matched across every conversation of the
//! marketplace would otherwise be read in full on each search).
//!
//! Terms of one or two characters have no trigram; rather than scan every
//! message of the log, they are matched (with `instr`) against the names and
//! the conversation's product only, over the viewer's own conversations.
//! At most [`MAX_TERMS`] distinct terms are used.
//!
//! The index is contentless (`content=''`, `contentless_delete=1`): the text
//! lives once in `search_docs`, the index only maps trigrams to its rowids.

use souk_domain::Role;

/// Terms shorter than this (in characters) are not looked up in the index.
pub const MIN_INDEXED_CHARS: usize = 3;
/// Terms beyond this many are ignored.
pub const MAX_TERMS: usize = 8;

/// The token naming one participant of a conversation in the `owner`
/// column of the index: four CJK ideographs drawn from a 64-bit FNV-1a hash
/// of `role:id` (20,000 symbols each, about 57 bits).
///
/// Why not the id itself: the trigrams of `|vendor:v-7|` (`ven`, `end`,
/// ...) occur in every document, and a phrase query reads the whole list of
/// each of its trigrams. The two trigrams of this token occur, in practice,
/// only in the documents of this participant, so a lookup reads just those.
/// A collision would only add candidates: every search is also filtered by
/// the viewer's id on the conversation row. FNV-1a is written out here so that
/// the token never changes with a library or compiler version.
pub(crate) fn owner_token(role: Role, id: &str) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = role
        .as_str()
        .bytes()
        .chain([b':'])
        .chain(id.bytes())
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    (0..4)
        .map(|i| {
            let symbol = ((hash >> (16 * i)) & 0xffff) as u32 % 20_000;
            char::from_u32(0x4e00 + symbol).expect("CJK ideographs are chars")
        })
        .collect()
}

/// The `owner` column of a document: who may find it (`visible_to` is
/// `customer`, `vendor` or `both`); `ids` are the customer's and the
/// vendor's.
pub(crate) fn owners(visible_to: &str, ids: [&str; 2]) -> String {
    match visible_to {
        "customer" => owner_token(Role::Customer, ids[0]),
        "vendor" => owner_token(Role::Vendor, ids[1]),
        _ => format!(
            "{} {}",
            owner_token(Role::Customer, ids[0]),
            owner_token(Role::Vendor, ids[1])
        ),
    }
}

/// The FTS5 query of an indexed term for `viewer` on `role`'s side.
pub(crate) fn match_expression(phrase: &str, viewer: &str, role: Role) -> String {
    format!(
        "owner : \"{}\" AND body : {phrase}",
        owner_token(role, viewer)
    )
}

/// How a string is stored for search and how a term is compared to it.
pub(crate) fn normalize(s: &str) -> String {
    s.to_lowercase()
}

/// The searchable text of a message: its text and its product's name.
/// Terms contain no whitespace, so the line break between them never makes a
/// false match.
pub(crate) fn message_body(text: Option<&str>, product_name: Option<&str>) -> String {
    let parts: Vec<String> = [text, product_name]
        .into_iter()
        .flatten()
        .map(normalize)
        .filter(|s| !s.is_empty())
        .collect();
    parts.join("\n")
}

/// One term of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Term {
    /// Looked up in the trigram index: an FTS5 phrase, quoted.
    Indexed(String),
    /// Too short for the index: a lower-cased needle for `instr`.
    Short(String),
}

/// Splits a search into terms. An empty or blank search has none.
pub(crate) fn terms(search: &str) -> Vec<Term> {
    let mut seen: Vec<String> = Vec::new();
    for word in normalize(search).split_whitespace() {
        if seen.len() == MAX_TERMS {
            break;
        }
        if !seen.iter().any(|w| w == word) {
            seen.push(word.to_owned());
        }
    }
    seen.into_iter()
        .map(|w| {
            if w.chars().count() >= MIN_INDEXED_CHARS {
                Term::Indexed(format!("\"{}\"", w.replace('"', "\"\"")))
            } else {
                Term::Short(w)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_lowercased_deduplicated_and_quoted() {
        assert_eq!(
            terms("  Red  BIKE red \"x\"y "),
            vec![
                Term::Indexed("\"red\"".into()),
                Term::Indexed("\"bike\"".into()),
                Term::Indexed("\"\"\"x\"\"y\"".into()),
            ]
        );
        assert_eq!(terms("ÄB"), vec![Term::Short("äb".into())]);
        assert!(terms("   ").is_empty());
        assert_eq!(terms("a b c d e f g h i j k").len(), MAX_TERMS);
    }

    /// `owner_token(Role::Vendor, "v-1")`: a change would orphan every
    /// indexed document (a schema version bump and a rebuild).
    const PINNED_V1: &str = "佽蟇颂久";

    #[test]
    fn owners_name_who_may_find_a_document() {
        let c = owner_token(Role::Customer, "c-1");
        let v = owner_token(Role::Vendor, "v-1");
        assert_eq!(c.chars().count(), 4);
        assert!(c.chars().all(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)));
        // Stable across runs and versions: pinned.
        assert_eq!(owner_token(Role::Vendor, "v-1"), v);
        assert_eq!(v, PINNED_V1);
        // Role and id both count.
        assert_ne!(owner_token(Role::Customer, "v-1"), v);
        assert_ne!(owner_token(Role::Vendor, "v-2"), v);
        let ids = ["c-1", "v-1"];
        assert_eq!(owners("vendor", ids), v);
        assert_eq!(owners("customer", ids), c);
        assert_eq!(owners("both", ids), format!("{c} {v}"));
        assert_eq!(
            match_expression("\"bike\"", "v-1", Role::Vendor),
            format!("owner : \"{v}\" AND body : \"bike\"")
        );
    }

    #[test]
    fn message_bodies_join_text_and_product() {
        assert_eq!(message_body(Some("Hi"), Some("Red Bike")), "hi\nred bike");
        assert_eq!(message_body(None, Some("Bike")), "bike");
        assert_eq!(message_body(None, None), "");
    }
}
