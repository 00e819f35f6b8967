//! Conversation search.
//!
//! # What is searched
//!
//! A search is split on whitespace into terms (at most [`MAX_TERMS`]
//! distinct ones). A term finds the words that **start with it**, whatever
//! their case and accents: `bik` finds "Bike", `cafe` finds "Café", `54`
//! finds "54 cm" (and "540"), `l` finds "L". Punctuation separates words and
//! is not itself searched: `#7` finds "reply #7" (and "7 cm"), `red-bi`
//! finds the words "red" and "bi..." one after the other. A term without a
//! letter or a digit (`#`, `--`) finds nothing.
//!
//! Searched are: the other participant's name (as shown: the latest
//! recorded name, or the id when none was recorded; one's own name is not a
//! match), the product the conversation was started from and the one it is
//! now about (with the names, its *head*), and the text and product name of
//! every message. A conversation matches when
//! one of its messages holds every term that its head does not; or its head
//! holds them all.
//!
//! # The answer
//!
//! Newest match first: a conversation found through a message ranks by
//! that message's time, and carries it as its [`SearchMatch`] (the newest
//! matching message of the conversation); a conversation found through its
//! head alone ranks by its last activity and carries none. Ties go to the
//! larger conversation id. Pages are cut by key (`rank`, id), like the list.
//!
//! # How
//!
//! One FTS5 table, `search_index`, with the `unicode61` tokenizer and
//! `remove_diacritics 2` (case folding and accents removed on both sides,
//! for all of Unicode, by SQLite itself) and prefix indexes of 1, 2 and 3
//! characters, so that a short prefix query reads one ready list instead of
//! merging the lists of every word it starts. Every term is an FTS5 prefix
//! phrase (`"54"*`), tokenized by the same tokenizer as the text.
//!
//! Why not the trigram tokenizer it replaced: trigrams cannot look up
//! terms of one or two characters (sizes, numbers, "L"), and fold neither
//! accents nor (with `LIKE` off) case; finding a part in the middle of a
//! word ("ike" in "bike") is what it gave up. Scripts written without
//! spaces (Japanese, Chinese) are one word per run of characters for
//! `unicode61`, so they are found from the start of a run.
//!
//! Each row of the index (one per searchable string of `search_docs`)
//! has three columns: `owner` names who may find it, `conv` its
//! conversation, `body` its text. Owner and conversation are hashed into
//! tokens that occur nowhere else (see [`owner_token`]), so a lookup with
//! the viewer's token reads only the viewer's rows: FTS5 intersects the
//! lists inside the index. A head's owner tokens carry an `h` (see
//! [`head_owner`]), so heads and messages are looked up apart.
//!
//! A search then runs in two steps ([`find`]):
//!
//! 1. for each term, the viewer's conversations whose head holds it (few:
//!    at most three strings per conversation);
//! 2. the viewer's messages holding every term, where a term held by the
//!    head of a conversation may be missing from that conversation's
//!    messages (`body : "t"* OR conv : <those conversations>`), read
//!    **newest first** (descending rowid, the order in which messages were
//!    applied) and stopped as soon as the page is full. A common word costs
//!    as much as a rare one: the first matches are the page.
//!
//! A head match of a term widens step 2 only for up to [`MAX_HEAD_MATCHES`]
//! conversations; a term in more heads than that (a product name every
//! conversation has) is looked up in the messages themselves, except for
//! conversations whose head holds every term.
//!
//! The index is contentless (`content=''`, `contentless_delete=1`): the text
//! lives once in `search_docs` and `messages`, the index maps words to
//! rowids.

mod find;

pub(crate) use find::find;
pub use find::SearchMatch;

use souk_domain::Role;

/// Terms beyond this many are ignored.
pub const MAX_TERMS: usize = 8;

/// How many conversations' heads may stand in for one term in the message
/// lookup (see the module docs).
pub const MAX_HEAD_MATCHES: usize = 64;

/// Four CJK ideographs drawn from a 64-bit FNV-1a hash of `parts` (20,000
/// symbols each, about 57 bits). FNV-1a is written out here so that the
/// token never changes with a library or compiler version.
fn hashed_token(parts: &[&str]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut bytes = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            bytes.push(b':');
        }
        bytes.extend_from_slice(p.as_bytes());
    }
    let hash = bytes
        .into_iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    (0..4)
        .map(|i| {
            let symbol = ((hash >> (16 * i)) & 0xffff) as u32 % 20_000;
            char::from_u32(0x4e00 + symbol).expect("CJK ideographs are chars")
        })
        .collect()
}

/// The token naming one participant of a conversation in the `owner`
/// column of the index (from `role:id`).
///
/// Why not the id itself: the words of `vendor:v-7` (`vendor`, `v`, `7`)
/// occur in many documents, and a lookup reads the whole list of each of its
/// words. This token's word occurs, in practice, only in the documents of
/// this participant, so a lookup reads just those. A collision would only add
/// candidates: every conversation found is also checked against the
/// viewer's id on its row.
pub(crate) fn owner_token(role: Role, id: &str) -> String {
    hashed_token(&[role.as_str(), id])
}

/// The owner token of a conversation's head strings (names, product) for
/// one participant: the owner token after an `h`, one word for `unicode61`.
pub(crate) fn head_owner(role: Role, id: &str) -> String {
    format!("h{}", owner_token(role, id))
}

/// The token naming a conversation in the `conv` column. A collision
/// between two conversations of one viewer (odds about 1 in 10^11 for a
/// thousand conversations) could let a head match of one stand in for the
/// other.
pub(crate) fn conversation_token(conversation: &str) -> String {
    hashed_token(&["conversation", conversation])
}

/// The `owner` column of a document: who may find it (`visible_to` is
/// `customer`, `vendor` or `both`); `ids` are the customer's and the
/// vendor's; `head` for the conversation-level strings (names, product).
pub(crate) fn owners(visible_to: &str, ids: [&str; 2], head: bool) -> String {
    let token = |role: Role, id: &str| {
        if head {
            head_owner(role, id)
        } else {
            owner_token(role, id)
        }
    };
    match visible_to {
        "customer" => token(Role::Customer, ids[0]),
        "vendor" => token(Role::Vendor, ids[1]),
        _ => format!(
            "{} {}",
            token(Role::Customer, ids[0]),
            token(Role::Vendor, ids[1])
        ),
    }
}

/// How a string is stored in `search_docs` (the index folds case and
/// accents itself; the stored copy is lower-cased for reading).
pub(crate) fn normalize(s: &str) -> String {
    s.to_lowercase()
}

/// The searchable text of a message: its text and its product's name, on
/// two lines (two separate runs of words).
pub(crate) fn message_body(text: Option<&str>, product_name: Option<&str>) -> String {
    let parts: Vec<String> = [text, product_name]
        .into_iter()
        .flatten()
        .map(normalize)
        .filter(|s| !s.is_empty())
        .collect();
    parts.join("\n")
}

/// The terms of a search, each as an FTS5 prefix phrase (`"54"*`, quotes
/// doubled inside): lower-cased, deduplicated, at most [`MAX_TERMS`]; a
/// term without a letter or digit is left out (`unicode61` would find no
/// word in it). An empty or blank search has none.
pub(crate) fn terms(search: &str) -> Vec<String> {
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
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect()
}

/// Whether the search has words at all (a search of only punctuation has
/// none and finds nothing, while a blank one is no search).
pub(crate) fn is_blank(search: &str) -> bool {
    search.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_lowercased_deduplicated_quoted_prefixes() {
        assert_eq!(
            terms("  Red  BIKE red \"x\"y #7 "),
            vec![
                "\"red\"*".to_owned(),
                "\"bike\"*".into(),
                "\"\"\"x\"\"y\"*".into(),
                "\"#7\"*".into(),
            ]
        );
        assert_eq!(terms("ÄB"), vec!["\"äb\"*".to_owned()]);
        assert!(terms("   ").is_empty());
        // Punctuation alone is no word.
        assert!(terms("# -- ?!").is_empty());
        assert_eq!(terms("a b c d e f g h i j k").len(), MAX_TERMS);
        assert!(is_blank("  "));
        assert!(!is_blank(" # "));
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
        assert_eq!(owners("vendor", ids, false), v);
        assert_eq!(owners("customer", ids, false), c);
        assert_eq!(owners("both", ids, false), format!("{c} {v}"));
        assert_eq!(owners("vendor", ids, true), format!("h{v}"));
        assert_eq!(owners("both", ids, true), format!("h{c} h{v}"));
        let conv = conversation_token("49316337-9ec1-52e4-8b6c-d7dc6d8ef7a9");
        assert_eq!(conv.chars().count(), 4);
        assert_ne!(
            conv,
            conversation_token("49316337-9ec1-52e4-8b6c-d7dc6d8ef7aa")
        );
    }

    #[test]
    fn message_bodies_join_text_and_product() {
        assert_eq!(message_body(Some("Hi"), Some("Red Bike")), "hi\nred bike");
        assert_eq!(message_body(None, Some("Bike")), "bike");
        assert_eq!(message_body(None, None), "");
    }
}
