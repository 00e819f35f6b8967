//! The hash chain that makes the log tamper-evident: every recorded event
//! carries an [`EventHash`], the SHA-256 of its own fields and of the hash
//! of the event before it in its stream. Changing, removing or reordering
//! an event of a stream changes the hash its successor should chain to, so
//! [`verify`] finds the first event whose stored hash no longer matches.
//!
//! This file is the format and the checks (pure, no I/O): [`EventHash`],
//! [`link`], [`check`] (a page of one stream from a known predecessor),
//! [`check_links`] (inside a page), [`Heads`] (many streams in position
//! order). `verify` (the walk over a store) is in its own file.
//!
//! What the chain does not show by itself: events removed from the end of
//! a stream, or a whole stream removed, leave valid (shorter) chains. A
//! hash handed out earlier (the last hash of a dispute transcript, a
//! stream's head noted elsewhere) anchors what came before it: the event
//! with that hash must still be there, with everything before it
//! unchanged.
//!
//! # The canonical bytes
//!
//! An event's hash is `SHA-256(bytes)`, where `bytes` is the concatenation,
//! with no separators, of (format 2, what every backend appends):
//!
//! | field | encoding |
//! |---|---|
//! | domain tag | the 14 ASCII bytes `souk-event-v2` followed by one zero byte |
//! | stream | its length in bytes as a u64, big-endian (8 bytes), then its UTF-8 bytes |
//! | event type | u64 big-endian length, then its UTF-8 bytes |
//! | schema version | u32, big-endian (4 bytes) |
//! | data | u64 big-endian length, then the payload's bytes exactly as stored (the JSON text as appended, never re-serialized) |
//! | padding | zero bytes up to the next multiple of 64 bytes of everything so far (none if it is one already) |
//! | revision | u64, big-endian (8 bytes) |
//! | recorded at | milliseconds since 1970-01-01T00:00:00Z as an i64, big-endian (8 bytes): the `recordedAt` of the event's JSON |
//! | previous hash | the 32 bytes of the hash of the stream's previous event; 32 zero bytes ([`EventHash::GENESIS`]) for revision 0 |
//!
//! The order is what lets the writer, which bounds the log's throughput,
//! hash little: what depends on the event alone comes first and is hashed
//! by the appender on its own thread ([`PreparedLink`]); the padding ends
//! it on a SHA-256 block boundary, so what only the writer knows (the
//! revision and time it gives the event, the hash of its predecessor under
//! its ordering) is one block to finish.
//!
//! **Format 1**, which events appended before format 2 carry (souk's logs
//! are never re-hashed: a hash handed out stays valid), is [`link_v1`]:
//! the tag `souk-event-v1` and a zero byte, the previous hash, the stream,
//! the revision, the event type, the schema version, the data (each
//! encoded as above), then `recorded at` as a u64 big-endian length and the
//! RFC 3339 text in UTC with exactly three fractional digits and `Z`, e.g.
//! `2026-11-18T11:06:40.123Z`. Every check accepts an event whose stored
//! hash is its link in either format ([`check_event`]); a broken link is
//! reported with the hash the current format gives. Accepting both does not
//! weaken the chain: a changed event must still have a stored hash that one
//! of two SHA-256 preimages of its fields gives, and its successor must
//! chain to that hash.
//!
//! The global position is deliberately not hashed: the chain is per
//! stream, and a log copied into another one keeps its hashes. Hashes are
//! shown as 64 lowercase hex digits. The test vectors at the end of this
//! file pin both formats: an offline verifier can check itself against
//! them.
//!
//! Every backend stores times with millisecond precision (what
//! [`Timestamp`] holds), so the hashed time is the one read back.
//!
//! # What is checked where
//!
//! - Appends: the appender prepares each event's [`PreparedLink`] on its
//!   own thread; each backend finishes the hashes in the append's own
//!   transaction, from the stream's last hash as it is under the append's
//!   ordering (the SQLite writer's cache of stream heads; PostgreSQL's row
//!   read under the log-head lock), so a hash is never computed against a
//!   row that is not the real predecessor.
//! - Imports ([`SqliteStore::import`](crate::SqliteStore::import),
//!   [`PostgresStore::import`](crate::PostgresStore::import)) carry the
//!   hashes as they are and refuse a page whose chain does not verify
//!   against the importing log: a copy is exactly as trustworthy as its
//!   source, never silently re-hashed.
//! - Stream reads (`read_stream`, which is how a conversation's actor loads
//!   and catches up, and how its events and transcripts are served) check
//!   the links inside the page they return, and revision 0 against
//!   [`EventHash::GENESIS`] ([`check_links`], one SHA-256 per event, done
//!   on the backend's own threads): a broken link is logged as an error
//!   naming the stream, revision, position and both hashes. They never fail
//!   because of it: a reader cannot repair the log, and refusing to read
//!   would turn tampering into an outage of the conversation, for its
//!   participants too; whoever must not serve a broken chain (a dispute
//!   transcript) checks with [`check`] itself. Reads of the whole log
//!   (`read_all`, subscriptions: the read models, webhooks) do not check:
//!   their pages mix streams, and they would pay the hashing on every
//!   projection rebuild. A whole log or one stream is checked from end to
//!   end by [`verify`] (`souk audit verify`), which also checks each
//!   page's first event against its predecessor.
//! - A log written before the chain existed was hashed once when it was
//!   upgraded: [`ChainUpgrade`] (from [`EventStore::chain_upgrade`](crate::EventStore::chain_upgrade))
//!   says up to which position the hashes only vouch for the log as it was
//!   at upgrade time, not as it was written.

mod verify;

pub use verify::{verify, VerifyProgress, VerifyReport};

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use souk_domain::Timestamp;
use thiserror::Error;

use crate::{NewEvent, Position, RecordedEvent, Revision};

/// The domain tag the canonical bytes of the current format (2) start
/// with.
pub const DOMAIN_TAG: &[u8] = b"souk-event-v2\0";

/// The domain tag of format 1, which events appended before format 2 carry.
pub const DOMAIN_TAG_V1: &[u8] = b"souk-event-v1\0";

/// The SHA-256 hash of a recorded event (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventHash(pub [u8; 32]);

impl EventHash {
    /// What the first event of a stream chains to: 32 zero bytes.
    pub const GENESIS: EventHash = EventHash([0; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash from exactly 32 bytes (as a backend stores it).
    pub fn from_slice(bytes: &[u8]) -> Option<EventHash> {
        bytes.try_into().ok().map(EventHash)
    }
}

impl fmt::Display for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        let hex = base16ct::lower::encode_str(&self.0, &mut buf).map_err(|_| fmt::Error)?;
        f.write_str(hex)
    }
}

impl fmt::Debug for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventHash({self})")
    }
}

/// Why a text is not an [`EventHash`].
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("not an event hash (64 lowercase hex digits): {0:?}")]
pub struct ParseHashError(pub String);

impl FromStr for EventHash {
    type Err = ParseHashError;

    /// 64 lowercase hex digits, nothing else (one spelling per hash).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        match base16ct::lower::decode(s, &mut bytes) {
            Ok(decoded) if decoded.len() == 32 => Ok(EventHash(bytes)),
            _ => Err(ParseHashError(s.chars().take(80).collect())),
        }
    }
}

impl Serialize for EventHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The hash, in the current format, of an event with these fields whose
/// stream's previous event has hash `prev` (see the module docs for the
/// bytes hashed).
pub fn link(
    prev: &EventHash,
    stream: &str,
    revision: u64,
    event_type: &str,
    version: u32,
    data: &str,
    recorded_at: &Timestamp,
) -> EventHash {
    PreparedLink::new(stream, event_type, version, data).finish(revision, recorded_at, prev)
}

/// Hashes one field, its length first; returns the bytes it hashed.
fn field(hasher: &mut Sha256, bytes: &[u8]) -> usize {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
    8 + bytes.len()
}

/// The part of an event's link (format 2) that depends on the event alone:
/// the hasher after the domain tag, stream, type, schema version, data and
/// the padding to a whole 64-byte block. An appender prepares it on its own
/// thread; the writer, which alone knows the event's revision, time and
/// predecessor under its ordering, [`finishes`](Self::finish) it with one
/// SHA-256 block.
#[derive(Clone)]
pub struct PreparedLink(Sha256);

impl PreparedLink {
    pub fn new(stream: &str, event_type: &str, version: u32, data: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(DOMAIN_TAG);
        let mut hashed = DOMAIN_TAG.len();
        hashed += field(&mut hasher, stream.as_bytes());
        hashed += field(&mut hasher, event_type.as_bytes());
        hasher.update(version.to_be_bytes());
        hashed += 4;
        hashed += field(&mut hasher, data.as_bytes());
        let partial = hashed % BLOCK;
        if partial != 0 {
            hasher.update(&[0u8; BLOCK][..BLOCK - partial]);
        }
        Self(hasher)
    }

    /// The prepared links of the events of one append, in order.
    pub fn for_events(stream: &str, events: &[NewEvent]) -> Vec<PreparedLink> {
        events
            .iter()
            .map(|e| Self::new(stream, &e.event_type, e.version, &e.data))
            .collect()
    }

    /// The event's hash, as revision `revision` recorded at `recorded_at`
    /// after an event whose hash is `prev`.
    pub fn finish(&self, revision: u64, recorded_at: &Timestamp, prev: &EventHash) -> EventHash {
        let mut hasher = self.0.clone();
        hasher.update(revision.to_be_bytes());
        hasher.update(recorded_at.millis().to_be_bytes());
        hasher.update(prev.0);
        EventHash(hasher.finalize().into())
    }
}

/// The size of a SHA-256 block: the prepared part of a link is padded to a
/// multiple of it, so finishing one is one block (48 bytes and SHA-256's
/// own 9 bytes of padding).
const BLOCK: usize = 64;

/// The hash in format 1 (see the module docs), which events appended
/// before format 2 carry and every check still accepts.
pub fn link_v1(
    prev: &EventHash,
    stream: &str,
    revision: u64,
    event_type: &str,
    version: u32,
    data: &str,
    recorded_at: &Timestamp,
) -> EventHash {
    let mut time = [0u8; 40];
    let time = time_text(recorded_at, &mut time);
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN_TAG_V1);
    hasher.update(prev.0);
    field(&mut hasher, stream.as_bytes());
    hasher.update(revision.to_be_bytes());
    field(&mut hasher, event_type.as_bytes());
    hasher.update(version.to_be_bytes());
    field(&mut hasher, data.as_bytes());
    field(&mut hasher, time);
    EventHash(hasher.finalize().into())
}

/// `at` as format 1 hashes it: RFC 3339, milliseconds, `Z`.
fn time_text<'b>(at: &Timestamp, buf: &'b mut [u8; 40]) -> &'b [u8] {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    // 24 bytes for any year 0-9999; a year past that still fits in 40.
    write!(cursor, "{at}").expect("a timestamp fits in 40 bytes");
    let len = cursor.position() as usize;
    &buf[..len]
}

/// The hash, in the current format, that `event` should carry if its
/// stream's previous event has hash `prev`.
pub fn expected_hash(prev: &EventHash, event: &RecordedEvent) -> EventHash {
    link_in(link, prev, event)
}

/// A format's link function ([`link`], [`link_v1`]).
type LinkFormat = fn(&EventHash, &str, u64, &str, u32, &str, &Timestamp) -> EventHash;

/// `event`'s link to `prev` in `format`.
fn link_in(format: LinkFormat, prev: &EventHash, event: &RecordedEvent) -> EventHash {
    format(
        prev,
        &event.stream,
        event.revision,
        &event.event_type,
        event.version,
        &event.data,
        &event.recorded_at,
    )
}

/// Checks that `event` chains to `prev`: its stored hash is its link to
/// `prev` in the current format, or in format 1 (events appended before
/// format 2). The error carries the hash it should have in the current
/// format.
pub fn check_event(prev: &EventHash, event: &RecordedEvent) -> Result<(), BrokenLink> {
    let current = expected_hash(prev, event);
    if current == event.hash || link_in(link_v1, prev, event) == event.hash {
        Ok(())
    } else {
        Err(broken(event, current))
    }
}

/// The first event whose stored hash is not the one its fields and its
/// predecessor's hash give.
#[derive(Clone, Debug, Error, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[error(
    "hash chain broken at {stream} revision {revision} (position {position}): \
     expected {expected}, found {found}"
)]
pub struct BrokenLink {
    pub stream: String,
    pub revision: Revision,
    pub position: Position,
    /// The hash recomputed from the event's fields and its predecessor.
    pub expected: EventHash,
    /// The hash stored with the event.
    pub found: EventHash,
}

/// Checks `events`, consecutive events of one stream in revision order,
/// the first of which chains to `prev` (`EventHash::GENESIS` for revision
/// 0). Returns the last event's hash (`prev` for an empty page), to check
/// the next page with.
pub fn check(prev: EventHash, events: &[RecordedEvent]) -> Result<EventHash, BrokenLink> {
    events.iter().try_fold(prev, |prev, event| {
        check_event(&prev, event)?;
        Ok(event.hash)
    })
}

fn broken(event: &RecordedEvent, expected: EventHash) -> BrokenLink {
    BrokenLink {
        stream: event.stream.clone(),
        revision: event.revision,
        position: event.position,
        expected,
        found: event.hash,
    }
}

/// Checks the links inside `events`, consecutive events of one stream as
/// a stream read returns them (revisions ascending or descending): each
/// event against the one before it in revision order, and revision 0
/// against [`EventHash::GENESIS`]. The first event's link to a predecessor
/// outside the page is not checked (that takes [`check`] with its hash).
pub fn check_links(events: &[RecordedEvent]) -> Result<(), BrokenLink> {
    let n = events.len();
    let ascending = n < 2 || events[0].revision < events[1].revision;
    let at = |i: usize| {
        if ascending {
            &events[i]
        } else {
            &events[n - 1 - i]
        }
    };
    for i in 0..n {
        let event = at(i);
        let prev = match i {
            0 if event.revision == 0 => EventHash::GENESIS,
            0 => continue,
            _ => {
                let before = at(i - 1);
                if before.revision + 1 != event.revision {
                    return Err(broken(event, expected_hash(&before.hash, event)));
                }
                before.hash
            }
        };
        check_event(&prev, event)?;
    }
    Ok(())
}

/// What every backend's `read_stream` does with what it read (see "What
/// is checked where" in the module docs): [`check_links`], and a broken
/// link logged as an error. The events are returned as they are either way.
pub(crate) fn log_if_broken(events: &[RecordedEvent]) {
    if let Err(broken) = check_links(events) {
        tracing::error!("the event log has been tampered with or damaged: {broken}");
    }
}

/// The last hash of each stream seen so far, for checking events of many
/// streams in position order (a page of the whole log).
#[derive(Clone, Debug, Default)]
pub struct Heads {
    last: HashMap<String, (Revision, EventHash)>,
}

impl Heads {
    pub fn new() -> Self {
        Self::default()
    }

    /// Streams seen so far.
    pub fn streams(&self) -> usize {
        self.last.len()
    }

    /// The revision and hash of `stream`'s last event seen, if any.
    pub fn get(&self, stream: &str) -> Option<(Revision, EventHash)> {
        self.last.get(stream).copied()
    }

    /// Records that `stream`'s last event so far has this revision and hash.
    pub fn set(&mut self, stream: &str, revision: Revision, hash: EventHash) {
        match self.last.get_mut(stream) {
            Some(head) => *head = (revision, hash),
            None => {
                self.last.insert(stream.to_owned(), (revision, hash));
            }
        }
    }

    /// Checks `event` against its stream's last event seen (none: it must
    /// be revision 0 and chain to [`EventHash::GENESIS`]), then makes it the
    /// stream's last. A revision that does not follow the last one seen is
    /// a broken link too (an event missing or out of order), reported with
    /// the hash the event would have if it followed the last one seen.
    pub fn check_next(&mut self, event: &RecordedEvent) -> Result<(), BrokenLink> {
        let prev = self.get(&event.stream);
        let follows = match prev {
            Some((revision, _)) => event.revision == revision + 1,
            None => event.revision == 0,
        };
        let prev_hash = prev.map_or(EventHash::GENESIS, |(_, h)| h);
        if !follows {
            return Err(broken(event, expected_hash(&prev_hash, event)));
        }
        check_event(&prev_hash, event)?;
        self.set(&event.stream, event.revision, event.hash);
        Ok(())
    }
}

/// When a log written before the chain existed was hashed: events at
/// positions up to `through` got their hashes at `at`, computed over the
/// log as it was then; they show the log has not changed since, not that
/// it was never changed before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainUpgrade {
    pub through: Position,
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(prev: &EventHash, revision: u64, data: &str) -> RecordedEvent {
        let recorded_at = Timestamp::from_millis(1_795_000_000_123);
        let hash = link(prev, "s", revision, "T", 1, data, &recorded_at);
        RecordedEvent {
            stream: "s".to_owned(),
            revision,
            position: revision + 1,
            event_type: "T".to_owned(),
            version: 1,
            data: data.to_owned(),
            recorded_at,
            hash,
        }
    }

    fn chain_of(n: u64) -> Vec<RecordedEvent> {
        let mut prev = EventHash::GENESIS;
        (0..n)
            .map(|r| {
                let e = recorded(&prev, r, &format!("{{\"n\":{r}}}"));
                prev = e.hash;
                e
            })
            .collect()
    }

    /// Format 2's test vector: if this changes, every stored chain stops
    /// verifying. Reproducible with any SHA-256 over the bytes below.
    #[test]
    fn test_vector() {
        let at = Timestamp::parse("2026-11-18T11:06:40.123Z").unwrap();
        let stream = "conversation-0190f5b4-6a7e-7cc0-9d3a-3c6f8e2a1b00";
        let data = r#"{"text":"héllo"}"#;
        let first = link(&EventHash::GENESIS, stream, 0, "MessageSent", 1, data, &at);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"souk-event-v2\0");
        bytes.extend_from_slice(&49u64.to_be_bytes());
        bytes.extend_from_slice(stream.as_bytes());
        bytes.extend_from_slice(&11u64.to_be_bytes());
        bytes.extend_from_slice(b"MessageSent");
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.extend_from_slice(&17u64.to_be_bytes());
        bytes.extend_from_slice(data.as_bytes());
        // 14 + 57 + 19 + 4 + 25 = 119 bytes: 9 zero bytes to 128.
        assert_eq!(bytes.len(), 119);
        bytes.extend_from_slice(&[0; 9]);
        bytes.extend_from_slice(&0u64.to_be_bytes());
        bytes.extend_from_slice(&1_795_000_000_123i64.to_be_bytes());
        bytes.extend_from_slice(&[0; 32]);
        assert_eq!(at.millis(), 1_795_000_000_123);
        assert_eq!(first.0, <[u8; 32]>::from(Sha256::digest(&bytes)));
        assert_eq!(
            first.to_string(),
            "2212a90bdfdf4817f575a3aa743ae033491576fac433839d0ad3e960cef1d10f"
        );
        let second = link(&first, stream, 1, "MessageRead", 2, "{}", &at);
        assert_eq!(
            second.to_string(),
            "18109da830f0fb3a7744f2827fcbe22cbb89b8de07fd44b0364326cad7e88981"
        );
    }

    /// Format 1's test vector: the hashes of events appended before format
    /// 2 still verify.
    #[test]
    fn test_vector_v1() {
        let at = Timestamp::parse("2026-11-18T11:06:40.123Z").unwrap();
        let stream = "conversation-0190f5b4-6a7e-7cc0-9d3a-3c6f8e2a1b00";
        let data = r#"{"text":"héllo"}"#;
        let first = link_v1(&EventHash::GENESIS, stream, 0, "MessageSent", 1, data, &at);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"souk-event-v1\0");
        bytes.extend_from_slice(&[0; 32]);
        bytes.extend_from_slice(&49u64.to_be_bytes());
        bytes.extend_from_slice(stream.as_bytes());
        bytes.extend_from_slice(&0u64.to_be_bytes());
        bytes.extend_from_slice(&11u64.to_be_bytes());
        bytes.extend_from_slice(b"MessageSent");
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.extend_from_slice(&17u64.to_be_bytes());
        bytes.extend_from_slice(data.as_bytes());
        bytes.extend_from_slice(&24u64.to_be_bytes());
        bytes.extend_from_slice(b"2026-11-18T11:06:40.123Z");
        assert_eq!(first.0, <[u8; 32]>::from(Sha256::digest(&bytes)));
        assert_eq!(
            first.to_string(),
            "1ae8492c4e4b0d004bf4cdf07f7eece797626a3d87eece3656eff60c2683c1fc"
        );
        let second = link_v1(&first, stream, 1, "MessageRead", 2, "{}", &at);
        assert_eq!(
            second.to_string(),
            "1c0278a20f0f024f23ff382d81ca579e86eb3d96be7a81a501cee86b62fa3079"
        );
    }

    /// The prepared part is padded right whatever the fields' lengths:
    /// every offset of the block boundary against the bytes written out.
    #[test]
    fn padding_for_every_length() {
        let at = Timestamp::from_millis(1_795_000_000_123);
        let prev = EventHash([7; 32]);
        for n in 0..=130 {
            let data = "x".repeat(n);
            let mut bytes = Vec::new();
            bytes.extend_from_slice(DOMAIN_TAG);
            for (i, f) in ["s", "T", data.as_str()].iter().enumerate() {
                bytes.extend_from_slice(&(f.len() as u64).to_be_bytes());
                bytes.extend_from_slice(f.as_bytes());
                if i == 1 {
                    bytes.extend_from_slice(&3u32.to_be_bytes());
                }
            }
            while bytes.len() % 64 != 0 {
                bytes.push(0);
            }
            bytes.extend_from_slice(&9u64.to_be_bytes());
            bytes.extend_from_slice(&at.millis().to_be_bytes());
            bytes.extend_from_slice(&prev.0);
            let expected = EventHash(Sha256::digest(&bytes).into());
            assert_eq!(link(&prev, "s", 9, "T", 3, &data, &at), expected, "{n}");
        }
    }

    /// A log whose streams began in format 1 and went on in format 2 (a
    /// log appended to by an older souk, then a newer one) checks; an
    /// event changed on either side of the change of format is found.
    #[test]
    fn chains_mixing_both_formats_check() {
        let at = Timestamp::from_millis(1_795_000_000_123);
        let mut events = Vec::new();
        let mut prev = EventHash::GENESIS;
        for revision in 0..6u64 {
            let data = format!("{{\"n\":{revision}}}");
            let hash_with = if revision < 3 { link_v1 } else { link };
            let hash = hash_with(&prev, "s", revision, "T", 1, &data, &at);
            events.push(RecordedEvent {
                stream: "s".to_owned(),
                revision,
                position: revision + 1,
                event_type: "T".to_owned(),
                version: 1,
                data,
                recorded_at: at,
                hash,
            });
            prev = hash;
        }
        assert_eq!(check(EventHash::GENESIS, &events), Ok(prev));
        assert_eq!(check_links(&events), Ok(()));
        let mut heads = Heads::new();
        for e in &events {
            heads.check_next(e).unwrap();
        }
        for changed in [1, 4] {
            let mut tampered = events.clone();
            tampered[changed].data = "{}".to_owned();
            let err = check(EventHash::GENESIS, &tampered).unwrap_err();
            assert_eq!(err.revision, changed as u64);
            assert_eq!(
                err.expected,
                expected_hash(&events[changed - 1].hash, &tampered[changed]),
                "reported with the current format's hash"
            );
            assert_eq!(check_links(&tampered).unwrap_err().revision, changed as u64);
        }
        // Format 1's tag under format 2's layout (or the reverse) is neither.
        assert_ne!(
            link_v1(&EventHash::GENESIS, "s", 0, "T", 1, "{}", &at),
            link(&EventHash::GENESIS, "s", 0, "T", 1, "{}", &at)
        );
    }

    #[test]
    fn hex_round_trips_and_is_strict() {
        let h = link(
            &EventHash::GENESIS,
            "s",
            0,
            "T",
            1,
            "{}",
            &Timestamp::from_millis(0),
        );
        let text = h.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<EventHash>().unwrap(), h);
        assert_eq!(serde_json::to_string(&h).unwrap(), format!("\"{text}\""));
        assert_eq!(
            serde_json::from_str::<EventHash>(&format!("\"{text}\"")).unwrap(),
            h
        );
        assert!(text.to_uppercase().parse::<EventHash>().is_err());
        assert!(text[..62].parse::<EventHash>().is_err());
        assert!(format!("{text}00").parse::<EventHash>().is_err());
        assert_eq!(
            EventHash::GENESIS.to_string(),
            "0000000000000000000000000000000000000000000000000000000000000000"
        );
    }

    #[test]
    fn every_field_counts() {
        let at = Timestamp::from_millis(5);
        let base = link(&EventHash::GENESIS, "s", 0, "T", 1, "{}", &at);
        let other_prev = EventHash([1; 32]);
        for changed in [
            link(&other_prev, "s", 0, "T", 1, "{}", &at),
            link(&EventHash::GENESIS, "t", 0, "T", 1, "{}", &at),
            link(&EventHash::GENESIS, "s", 1, "T", 1, "{}", &at),
            link(&EventHash::GENESIS, "s", 0, "U", 1, "{}", &at),
            link(&EventHash::GENESIS, "s", 0, "T", 2, "{}", &at),
            link(&EventHash::GENESIS, "s", 0, "T", 1, "{ }", &at),
            link(
                &EventHash::GENESIS,
                "s",
                0,
                "T",
                1,
                "{}",
                &at.plus_millis(1),
            ),
            // Moving bytes from one field to the next is not the same event.
            link(&EventHash::GENESIS, "sT", 0, "", 1, "{}", &at),
        ] {
            assert_ne!(changed, base);
        }
    }

    #[test]
    fn check_walks_a_page_and_names_the_broken_link() {
        let events = chain_of(5);
        assert_eq!(check(EventHash::GENESIS, &events), Ok(events[4].hash));
        assert_eq!(check(events[1].hash, &events[2..]), Ok(events[4].hash));
        assert_eq!(check(events[4].hash, &[]), Ok(events[4].hash));

        let mut tampered = events.clone();
        tampered[2].data = "{\"n\":99}".to_owned();
        let err = check(EventHash::GENESIS, &tampered).unwrap_err();
        assert_eq!(
            (err.stream.as_str(), err.revision, err.position, err.found),
            ("s", 2, 3, events[2].hash)
        );
        assert_eq!(err.expected, expected_hash(&events[1].hash, &tampered[2]));

        // A missing event breaks the next one's link.
        let mut gap = events.clone();
        gap.remove(1);
        let err = check(EventHash::GENESIS, &gap).unwrap_err();
        assert_eq!(err.revision, 2);
    }

    #[test]
    fn check_links_within_a_page_either_way() {
        let events = chain_of(5);
        assert_eq!(check_links(&events), Ok(()));
        assert_eq!(check_links(&events[2..]), Ok(()), "a page from the middle");
        let mut backwards = events.clone();
        backwards.reverse();
        assert_eq!(check_links(&backwards), Ok(()));
        assert_eq!(check_links(&[]), Ok(()));

        let mut tampered = events.clone();
        tampered[3].data = "{}".to_owned();
        assert_eq!(check_links(&tampered).unwrap_err().revision, 3);
        tampered.reverse();
        assert_eq!(check_links(&tampered).unwrap_err().revision, 3);
        // Revision 0 must chain to GENESIS, even alone.
        let mut first = events[..1].to_vec();
        first[0].hash = EventHash([9; 32]);
        assert_eq!(check_links(&first).unwrap_err().revision, 0);
        // A page starting mid-stream: its first link is not checked.
        let mut mid = events[2..].to_vec();
        mid[0].data = "{}".to_owned();
        mid[0].hash = expected_hash(&EventHash([1; 32]), &mid[0]);
        assert_eq!(check_links(&mid).unwrap_err().revision, 3);
    }

    #[test]
    fn heads_check_interleaved_streams() {
        let a = chain_of(3);
        let mut b = chain_of(2);
        for e in &mut b {
            e.stream = "b".to_owned();
        }
        // b's hashes were computed for stream "s": recompute them for "b".
        let mut prev = EventHash::GENESIS;
        for e in &mut b {
            e.hash = expected_hash(&prev, e);
            prev = e.hash;
        }
        let mut heads = Heads::new();
        for e in [&a[0], &b[0], &a[1], &b[1], &a[2]] {
            heads.check_next(e).unwrap();
        }
        assert_eq!(heads.streams(), 2);
        assert_eq!(heads.get("s"), Some((2, a[2].hash)));

        // A stream that does not start at revision 0, or skips one.
        let mut fresh = Heads::new();
        assert_eq!(fresh.check_next(&a[1]).unwrap_err().revision, 1);
        let mut skipping = Heads::new();
        skipping.check_next(&a[0]).unwrap();
        assert_eq!(skipping.check_next(&a[2]).unwrap_err().revision, 2);
    }
}
