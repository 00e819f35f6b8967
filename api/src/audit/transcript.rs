//! The dispute transcript of one conversation (`souk-transcript/1`): a
//! self-contained JSON file with every event of its stream exactly as
//! stored, each event's hash, the final hash and a digest, which anyone can
//! check offline (`souk audit verify-transcript FILE`, or
//! [`verify_json`]).
//!
//! # The format
//!
//! An object with, in this order: `format` (`"souk-transcript/1"`),
//! `conversation` (`id`, `customer` and `vendor` as `{id, name}` with the
//! latest names recorded, `product` or null, `createdAt`), `generatedBy`
//! (`{id, role, name}`: who asked for it), `generatedAt`, `events` (each:
//! `stream`, `revision`, `position`, `type`, `version`, `data`: the
//! payload's JSON text exactly as stored, as a string, `recordedAt`,
//! `hash`), `finalHash` (the last event's hash) and `digest`: the
//! SHA-256, in lowercase hex, of the canonical serialization of all the
//! rest (the same object without `digest`).
//!
//! The canonical serialization, which the file is byte for byte: serde
//! JSON pretty-printed with two spaces, fields in the order above, object
//! keys of `product` sorted, the characters `<`, `>` and `&` in strings
//! written as `\u003c`, `\u003e`, `\u0026` (so the file can be embedded in
//! an HTML page as it is), other characters as serde_json writes them,
//! and a final newline.
//!
//! # What verification proves
//!
//! [`verify_json`] refuses any file it would not have written itself: it
//! parses it strictly (no unknown or missing field), recomputes every
//! event's hash from the start of the chain ([`chain::check_event`], in
//! either of the chain's formats) and compares it with the one written,
//! checks `finalHash`, the digest, and that the file is exactly its own
//! canonical serialization. So any changed byte,
//! whitespace included, is found: the transcript is internally consistent.
//!
//! It does not prove by itself that the log held these events: someone
//! able to recompute every hash could forge a consistent file. What
//! anchors it is the final hash: `souk audit verify --conversation ID`
//! (or the `/events` route) shows the stream's hash at that revision on
//! the server's log, and a forged transcript's final hash differs from it.

use serde::{Deserialize, Serialize};
use serde_json::ser::{Formatter, PrettyFormatter};
use serde_json::Value;
use sha2::{Digest, Sha256};
use souk_domain::{ConversationId, Timestamp};
use souk_store::chain::{self, EventHash};
use souk_store::{EventStore, RecordedEvent, Revision};

use super::state::{fold_each, Until};
use crate::error::ApiError;

/// The format tag of this version of the transcript.
pub const FORMAT: &str = "souk-transcript/1";

/// A dispute transcript (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Transcript {
    pub format: String,
    pub conversation: TranscriptConversation,
    pub generated_by: GeneratedBy,
    pub generated_at: Timestamp,
    pub events: Vec<TranscriptEvent>,
    pub final_hash: EventHash,
    /// Empty only while it is being computed (then it is not written).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TranscriptConversation {
    pub id: String,
    pub customer: TranscriptParticipant,
    pub vendor: TranscriptParticipant,
    /// The product card it was started from, as recorded.
    pub product: Option<Value>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TranscriptParticipant {
    pub id: String,
    pub name: Option<String>,
}

/// Who asked for the transcript: a participant (`customer`, `vendor`) or
/// an operator (`operator`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratedBy {
    pub id: String,
    pub role: String,
    pub name: Option<String>,
}

/// One event, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TranscriptEvent {
    pub stream: String,
    pub revision: Revision,
    pub position: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u32,
    /// The payload's JSON text exactly as stored.
    pub data: String,
    pub recorded_at: Timestamp,
    pub hash: EventHash,
}

impl From<&RecordedEvent> for TranscriptEvent {
    fn from(e: &RecordedEvent) -> Self {
        Self {
            stream: e.stream.clone(),
            revision: e.revision,
            position: e.position,
            event_type: e.event_type.clone(),
            version: e.version,
            data: e.data.clone(),
            recorded_at: e.recorded_at,
            hash: e.hash,
        }
    }
}

impl TranscriptEvent {
    /// The event as the log records it.
    pub fn recorded(&self) -> RecordedEvent {
        RecordedEvent {
            stream: self.stream.clone(),
            revision: self.revision,
            position: self.position,
            event_type: self.event_type.clone(),
            version: self.version,
            data: self.data.clone(),
            recorded_at: self.recorded_at,
            hash: self.hash,
        }
    }

    /// The payload, parsed (null when it is not JSON).
    pub fn data_json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

impl Transcript {
    /// The file: the canonical serialization (see the module docs).
    pub fn to_canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024 + self.events.len() * 600);
        let mut ser = serde_json::Serializer::with_formatter(&mut out, Canonical::new());
        self.serialize(&mut ser)
            .expect("a transcript is plain data and always serializes");
        out.push(b'\n');
        out
    }

    /// The digest of everything but the digest.
    pub fn compute_digest(&self) -> String {
        let body = Transcript {
            digest: String::new(),
            ..self.clone()
        };
        hex(&Sha256::digest(body.to_canonical()))
    }

    /// The file name a download suggests.
    pub fn file_name(&self, extension: &str) -> String {
        format!(
            "conversation-{}-transcript.{extension}",
            self.conversation.id
        )
    }
}

/// Builds the transcript of conversation `id` from every event of its
/// stream, generated by `by` at `now`. Does not check who asks: the
/// caller does. A conversation without events is `404 not_found`. The
/// transcript of a stream whose chain is broken is built all the same, and
/// does not verify (naming the first broken revision).
pub async fn build(
    store: &dyn EventStore,
    id: ConversationId,
    by: GeneratedBy,
    now: Timestamp,
) -> Result<Transcript, ApiError> {
    let mut events = Vec::new();
    let replayed = fold_each(store, id, Until::End, |e| {
        events.push(TranscriptEvent::from(e));
    })
    .await?;
    let (Some(info), Some(last)) = (replayed.state.info.as_ref(), events.last()) else {
        return Err(ApiError::conversation_not_found(id));
    };
    let participant = |p: &souk_domain::Participant| TranscriptParticipant {
        id: p.id.to_string(),
        name: p.name.as_ref().map(|n| n.as_str().to_owned()),
    };
    let mut transcript = Transcript {
        format: FORMAT.to_owned(),
        conversation: TranscriptConversation {
            id: id.to_string(),
            customer: participant(&info.customer),
            vendor: participant(&info.vendor),
            product: info
                .product
                .as_ref()
                .and_then(|p| serde_json::to_value(p).ok()),
            created_at: info.created_at,
        },
        generated_by: by,
        generated_at: now,
        final_hash: last.hash,
        events,
        digest: String::new(),
    };
    transcript.digest = transcript.compute_digest();
    Ok(transcript)
}

/// Why a transcript does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TranscriptError {
    #[error("not a souk transcript: {0}")]
    Unreadable(String),
    #[error("unknown format {0:?} (this souk reads {FORMAT})")]
    Format(String),
    #[error("the transcript has no events")]
    Empty,
    #[error("event {index} is of stream {found}, not {expected}")]
    Stream {
        index: usize,
        expected: String,
        found: String,
    },
    #[error("event {index} has revision {found}; revision {expected} was expected (an event missing, added or moved)")]
    Revision {
        index: usize,
        expected: Revision,
        found: Revision,
    },
    #[error("hash chain broken at revision {revision}: its fields give {expected}, the transcript says {found}")]
    BrokenChain {
        revision: Revision,
        expected: EventHash,
        found: EventHash,
    },
    #[error("finalHash is {found}, the last event's hash is {expected}")]
    FinalHash {
        expected: EventHash,
        found: EventHash,
    },
    #[error("digest is {found:?}, the content gives {expected}")]
    Digest { expected: String, found: String },
    #[error("the file differs from the transcript's canonical form at byte {0} (edited spacing or escaping)")]
    NotCanonical(usize),
    #[error("the HTML page has no embedded transcript (script#souk-transcript)")]
    NoEmbedded,
    #[error("the embedded transcript verifies, but the HTML page differs from its rendering at byte {0}: the visible page was edited (or rendered by another souk)")]
    HtmlEdited(usize),
}

/// What a transcript that verifies says.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    pub transcript: Transcript,
}

impl Verified {
    pub fn final_hash(&self) -> EventHash {
        self.transcript.final_hash
    }
}

/// Verifies a transcript file (see the module docs for what is checked).
pub fn verify_json(bytes: &[u8]) -> Result<Verified, TranscriptError> {
    let transcript: Transcript =
        serde_json::from_slice(bytes).map_err(|e| TranscriptError::Unreadable(e.to_string()))?;
    if transcript.format != FORMAT {
        return Err(TranscriptError::Format(transcript.format));
    }
    let stream = format!("conversation-{}", transcript.conversation.id);
    let mut prev = EventHash::GENESIS;
    for (index, e) in transcript.events.iter().enumerate() {
        if e.stream != stream {
            return Err(TranscriptError::Stream {
                index,
                expected: stream,
                found: e.stream.clone(),
            });
        }
        if e.revision != index as u64 {
            return Err(TranscriptError::Revision {
                index,
                expected: index as u64,
                found: e.revision,
            });
        }
        if let Err(broken) = chain::check_event(&prev, &e.recorded()) {
            return Err(TranscriptError::BrokenChain {
                revision: e.revision,
                expected: broken.expected,
                found: e.hash,
            });
        }
        prev = e.hash;
    }
    let Some(last) = transcript.events.last() else {
        return Err(TranscriptError::Empty);
    };
    if transcript.final_hash != last.hash {
        return Err(TranscriptError::FinalHash {
            expected: last.hash,
            found: transcript.final_hash,
        });
    }
    let digest = transcript.compute_digest();
    if transcript.digest != digest {
        return Err(TranscriptError::Digest {
            expected: digest,
            found: transcript.digest,
        });
    }
    let canonical = transcript.to_canonical();
    if let Some(at) = first_difference(&canonical, bytes) {
        return Err(TranscriptError::NotCanonical(at));
    }
    Ok(Verified { transcript })
}

/// Verifies a file that is either a transcript (JSON) or its HTML
/// rendering ([`super::html`]), which must be exactly the rendering of the
/// transcript it embeds.
pub fn verify_file(bytes: &[u8]) -> Result<Verified, TranscriptError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return verify_json(bytes);
    }
    let embedded = super::html::embedded_json(bytes).ok_or(TranscriptError::NoEmbedded)?;
    let verified = verify_json(embedded)?;
    let rendered = super::html::render(&verified.transcript);
    if let Some(at) = first_difference(rendered.as_bytes(), bytes) {
        return Err(TranscriptError::HtmlEdited(at));
    }
    Ok(verified)
}

/// The first offset where `a` and `b` differ, `None` when they are equal.
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    if a == b {
        return None;
    }
    Some(
        a.iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len())),
    )
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// serde_json's pretty formatter that also writes `<`, `>` and `&` in
/// strings as `\u` escapes.
struct Canonical(PrettyFormatter<'static>);

impl Canonical {
    fn new() -> Self {
        Self(PrettyFormatter::with_indent(b"  "))
    }
}

impl Formatter for Canonical {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some(i) = rest.find(['<', '>', '&']) {
            writer.write_all(&rest.as_bytes()[..i])?;
            writer.write_all(match rest.as_bytes()[i] {
                b'<' => b"\\u003c",
                b'>' => b"\\u003e",
                _ => b"\\u0026",
            })?;
            rest = &rest[i + 1..];
        }
        writer.write_all(rest.as_bytes())
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}
