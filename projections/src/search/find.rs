//! The two steps of a search (see the [module docs](super)): the heads
//! holding each term, then the messages, newest first, until the page is
//! full.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use souk_domain::{MessageId, ProductCard, Role};

use super::{conversation_token, head_owner, owner_token, MAX_HEAD_MATCHES};
use crate::error::ProjectionError;

/// The newest message of a conversation that matches a search: `match` on
/// the conversation of a search answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchMatch {
    pub message_id: MessageId,
    pub seq: u64,
    /// The message's text, or its product's name when it has no text.
    pub text: String,
}

/// A conversation found, with its rank (milliseconds: the matching
/// message's time, or the conversation's last activity for a head match).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub conversation: String,
    pub rank: i64,
    pub matched: Option<SearchMatch>,
}

impl Found {
    fn key(&self) -> (i64, &str) {
        (self.rank, &self.conversation)
    }
}

/// Rowids of the index's matches for `expression`, newest first, with
/// their document's conversation and seq. `CROSS JOIN` keeps the index as
/// the outer loop, so the rows come in the index's own descending order
/// (no sorting) and reading can stop at any row.
const MATCHES: &str = "SELECT d.conversation_id, d.seq FROM search_index \
     CROSS JOIN search_docs d ON d.rowid = search_index.rowid \
     WHERE search_index MATCH ?1 ORDER BY search_index.rowid DESC";

/// How many skipped rows (of conversations already found, or found by
/// their head) the stream reads between two checks of its rows' age.
const SKIPS_PER_CHECK: usize = 32;

/// The time of a message, if it is known.
fn sent_at(
    conn: &Connection,
    conversation: &str,
    seq: i64,
) -> Result<Option<i64>, ProjectionError> {
    Ok(conn
        .prepare_cached("SELECT sent_at FROM messages WHERE conversation_id = ?1 AND seq = ?2")?
        .query_row(params![conversation, seq], |r| r.get(0))
        .optional()?)
}

/// A phrase naming one token, for an FTS5 expression.
fn token(t: &str) -> String {
    format!("\"{t}\"")
}

/// The viewer's conversations (with their last activity) whose head holds
/// `term`.
fn heads(
    conn: &Connection,
    viewer: &str,
    role: Role,
    term: &str,
) -> Result<BTreeMap<String, i64>, ProjectionError> {
    let sql = format!(
        "SELECT d.conversation_id, c.updated_at FROM search_index \
         CROSS JOIN search_docs d ON d.rowid = search_index.rowid \
         JOIN conversations c ON c.id = d.conversation_id AND c.{}_id = ?2 \
         WHERE search_index MATCH ?1",
        role.as_str()
    );
    let expression = format!(
        "owner : {} AND body : {term}",
        token(&head_owner(role, viewer))
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![expression, viewer], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The message at `seq` of the viewer's conversation, as a match, with its
/// time; `None` when the conversation is not the viewer's (a token
/// collision) or the message is unknown.
fn matched_message(
    conn: &Connection,
    viewer: &str,
    role: Role,
    conversation: &str,
    seq: i64,
) -> Result<Option<(SearchMatch, i64)>, ProjectionError> {
    let sql = format!(
        "SELECT m.id, m.text, m.product_json, m.sent_at FROM messages m \
         JOIN conversations c ON c.id = m.conversation_id AND c.{}_id = ?3 \
         WHERE m.conversation_id = ?1 AND m.seq = ?2",
        role.as_str()
    );
    let row = conn
        .prepare_cached(&sql)?
        .query_row(params![conversation, seq, viewer], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    let Some((id, text, product_json, sent_at)) = row else {
        return Ok(None);
    };
    let corrupt = |what: &str, v: &str| ProjectionError::Corrupt(format!("{what} {v:?}"));
    let message_id = MessageId::parse(&id).map_err(|_| corrupt("message id", &id))?;
    let text = match (text, product_json) {
        (Some(t), _) => t,
        (None, Some(j)) => {
            serde_json::from_str::<ProductCard>(&j)
                .map_err(|_| corrupt("product card", &j))?
                .name
        }
        (None, None) => String::new(),
    };
    Ok(Some((
        SearchMatch {
            message_id,
            seq: seq as u64,
            text,
        },
        sent_at,
    )))
}

/// Up to `want` of the viewer's conversations on `role`'s side matching
/// every one of `terms` (FTS5 prefix phrases, see [`super::terms`]), newest
/// match first, after `after` (a `(rank, id)` key). Runs its reads in the
/// caller's transaction.
pub(crate) fn find(
    conn: &Connection,
    viewer: &str,
    role: Role,
    terms: &[String],
    after: Option<(i64, String)>,
    want: usize,
) -> Result<Vec<Found>, ProjectionError> {
    if terms.is_empty() || want == 0 {
        return Ok(Vec::new());
    }
    let before_cursor = |rank: i64, id: &str| {
        after
            .as_ref()
            .is_none_or(|(r, i)| (rank, id) < (*r, i.as_str()))
    };

    // Step 1: the heads holding each term.
    let head_sets = terms
        .iter()
        .map(|t| heads(conn, viewer, role, t))
        .collect::<Result<Vec<_>, _>>()?;
    let mut head_only: BTreeMap<String, i64> = head_sets[0].clone();
    for set in &head_sets[1..] {
        head_only.retain(|id, _| set.contains_key(id));
    }

    // Step 2: the messages holding every term (a term its head holds may
    // be missing), newest first.
    let mut expression = format!("owner : {}", token(&owner_token(role, viewer)));
    for (term, set) in terms.iter().zip(&head_sets) {
        let standing_in: Vec<&String> =
            set.keys().filter(|c| !head_only.contains_key(*c)).collect();
        expression.push_str(&format!(" AND (body : {term}"));
        if standing_in.len() <= MAX_HEAD_MATCHES {
            for c in standing_in {
                expression.push_str(&format!(" OR conv : {}", token(&conversation_token(c))));
            }
        }
        expression.push(')');
    }
    // The head-only matches, after the cursor, best first: the stream
    // stops once its rows are older than the page they already fill.
    let mut heads_only: Vec<Found> = head_only
        .iter()
        .filter(|(id, rank)| before_cursor(**rank, id))
        .map(|(conversation, rank)| Found {
            conversation: conversation.clone(),
            rank: *rank,
            matched: None,
        })
        .collect();
    heads_only.sort_by(|a, b| b.key().cmp(&a.key()));
    let floor = |found: &[Found]| {
        let mut ranks: Vec<i64> = found.iter().chain(&heads_only).map(|f| f.rank).collect();
        if ranks.len() < want {
            return None;
        }
        ranks.sort_unstable_by(|a, b| b.cmp(a));
        Some(ranks[want - 1])
    };
    let mut found: Vec<Found> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut skipped = 0usize;
    {
        let mut stmt = conn.prepare_cached(MATCHES)?;
        let mut rows = stmt.query([expression])?;
        while let Some(row) = rows.next()? {
            let conversation: String = row.get(0)?;
            let seq: i64 = row.get(1)?;
            if seq == 0 || head_only.contains_key(&conversation) || seen.contains(&conversation) {
                // Rows come newest first: once one is older than the page
                // already found, none after it can enter the page.
                skipped += 1;
                if skipped.is_multiple_of(SKIPS_PER_CHECK) {
                    if let (Some(floor), Some(at)) =
                        (floor(&found), sent_at(conn, &conversation, seq)?)
                    {
                        if at < floor {
                            break;
                        }
                    }
                }
                continue;
            }
            seen.insert(conversation.clone());
            let Some((matched, sent_at)) = matched_message(conn, viewer, role, &conversation, seq)?
            else {
                continue;
            };
            if !before_cursor(sent_at, &conversation) {
                continue;
            }
            if floor(&found).is_some_and(|floor| sent_at < floor) {
                break;
            }
            found.push(Found {
                conversation,
                rank: sent_at,
                matched: Some(matched),
            });
            if found.len() == want {
                break;
            }
        }
    }

    // The head-only matches join in by their last activity.
    found.extend(heads_only);
    found.sort_by(|a, b| b.key().cmp(&a.key()));
    found.truncate(want);
    Ok(found)
}
