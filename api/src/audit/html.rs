//! The printable rendering of a [`Transcript`]: one self-contained HTML
//! page (inline CSS with print styles, no script, nothing fetched) with the
//! conversation, its participants and product, who generated it and when,
//! every event in a table (messages with their text, reads, support
//! accesses; runs of typing events folded into one compact row), each with
//! its revision, time and short hash, and the final hash and digest at the
//! end.
//!
//! The page embeds the transcript's canonical JSON verbatim in
//! `<script type="application/json" id="souk-transcript">` (the canonical
//! form writes `<` in strings as `\u003c`, so nothing in it can close the
//! element). [`render`] is a pure function of the transcript, so a page
//! verifies when its embedded transcript does and the page is exactly the
//! rendering of it ([`super::transcript::verify_file`]): an edit of the
//! visible text is found too. The markup is therefore part of the format
//! `souk-transcript/1`: changing it means a new format tag, or pages
//! rendered before would no longer verify as pages (their embedded
//! transcripts still would).
//!
//! Every string that comes from users (names, messages, products,
//! reasons, ids) goes through [`escape`].

use std::fmt::Write;

use serde_json::Value;
use souk_domain::Timestamp;

use super::transcript::{Transcript, TranscriptEvent};

/// What opens the embedded transcript.
const EMBED_OPEN: &str = r#"<script type="application/json" id="souk-transcript">"#;
const EMBED_CLOSE: &str = "</script>";

/// The embedded transcript of a page [`render`] wrote, if it has one.
pub fn embedded_json(page: &[u8]) -> Option<&[u8]> {
    let open = EMBED_OPEN.as_bytes();
    let start = page.windows(open.len()).position(|w| w == open)? + open.len();
    let len = page[start..]
        .windows(EMBED_CLOSE.len())
        .position(|w| w == EMBED_CLOSE.as_bytes())?;
    Some(&page[start..start + len])
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a1a1a;margin:2rem auto;max-width:60rem;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .25rem}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}
dl.meta dt{color:#555}
dl.meta dd{margin:0}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{font-size:.8rem;color:#555;text-transform:uppercase;letter-spacing:.03em}
td.rev,td.hash,td.time{white-space:nowrap;font-variant-numeric:tabular-nums}
td.hash,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
tr.typing td{color:#777;font-size:.85em;padding-top:.15rem;padding-bottom:.15rem}
tr.support td{background:#fff7e0}
.text{white-space:pre-wrap;overflow-wrap:anywhere}
.who{font-weight:600}
.seal{margin-top:1.5rem;padding:1rem;border:2px solid #1a1a1a;border-radius:6px}
.seal code{overflow-wrap:anywhere;font-size:.95em}
.note{color:#555;font-size:.85em}
@media print{body{margin:0;max-width:none;font-size:11px}tr{break-inside:avoid}.seal{break-inside:avoid}a{color:inherit;text-decoration:none}}
";

/// The page of `transcript`.
pub fn render(t: &Transcript) -> String {
    let mut h = String::with_capacity(4096 + t.events.len() * 400);
    let c = &t.conversation;
    let id = escape(&c.id);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Conversation {id}: transcript</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <h1>Conversation transcript</h1>\n<p class=\"note\">{format}: every event of the conversation as recorded in souk's log, with its hash.</p>\n\
         <dl class=\"meta\">\n<dt>Conversation</dt><dd><code>{id}</code></dd>\n\
         <dt>Customer</dt><dd>{customer}</dd>\n<dt>Vendor</dt><dd>{vendor}</dd>\n\
         <dt>Product</dt><dd>{product}</dd>\n<dt>Started</dt><dd>{created}</dd>\n\
         <dt>Events</dt><dd>{events} (revisions 0 to {last})</dd>\n\
         <dt>Generated</dt><dd>{generated} by {by}</dd>\n</dl>\n",
        format = escape(&t.format),
        customer = person(&c.customer.id, c.customer.name.as_deref()),
        vendor = person(&c.vendor.id, c.vendor.name.as_deref()),
        product = c.product.as_ref().map_or("none".to_owned(), product),
        created = time(&c.created_at),
        events = t.events.len(),
        last = t.events.len().saturating_sub(1),
        generated = time(&t.generated_at),
        by = format_args!(
            "{} ({})",
            person(&t.generated_by.id, t.generated_by.name.as_deref()),
            escape(&t.generated_by.role)
        ),
    );
    h.push_str(
        "<h2>Events</h2>\n<table>\n<thead><tr><th>Rev</th><th>Time (UTC)</th><th>Event</th><th>Hash</th></tr></thead>\n<tbody>\n",
    );
    let mut i = 0;
    while i < t.events.len() {
        let run = t.events[i..].iter().take_while(|e| is_typing(e)).count();
        if run > 1 {
            typing_row(&mut h, &t.events[i..i + run]);
            i += run;
        } else {
            event_row(&mut h, &t.events[i]);
            i += 1;
        }
    }
    let _ = write!(
        h,
        "</tbody>\n</table>\n<div class=\"seal\">\n<p><strong>Final hash</strong> (revision {last}): <code>{final_hash}</code></p>\n\
         <p><strong>Digest</strong> (SHA-256 of the transcript): <code>{digest}</code></p>\n\
         <p class=\"note\">To check this document: <code>souk audit verify-transcript FILE</code> \
         recomputes every hash from the events embedded in it, the final hash and the digest, and \
         finds any edit of this file. To check it against the server's log: \
         <code>souk audit verify --conversation {id}</code> checks the conversation's chain on the \
         server and prints its final hash, <code>souk events --conversation {id}</code> the hash of \
         every event; the event at revision {last} must carry the final hash above.</p>\n</div>\n\
         {EMBED_OPEN}{json}{EMBED_CLOSE}\n</body>\n</html>\n",
        last = t.events.len().saturating_sub(1),
        final_hash = t.final_hash,
        digest = escape(&t.digest),
        json = String::from_utf8_lossy(&t.to_canonical()),
    );
    h
}

fn is_typing(e: &TranscriptEvent) -> bool {
    matches!(e.event_type.as_str(), "TypingStarted" | "TypingStopped")
}

fn time(t: &Timestamp) -> String {
    t.datetime().format("%Y-%m-%d %H:%M:%S").to_string()
}

fn short(e: &TranscriptEvent) -> String {
    e.hash.to_string()[..12].to_owned()
}

fn person(id: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!(
            "<span class=\"who\">{}</span> (<code>{}</code>)",
            escape(name),
            escape(id)
        ),
        None => format!("<code>{}</code>", escape(id)),
    }
}

fn str_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn product(p: &Value) -> String {
    let name = str_of(p, "name").unwrap_or("a product");
    let mut out = format!("<span class=\"who\">{}</span>", escape(name));
    if let (Some(minor), Some(currency)) = (
        p.get("priceMinor").and_then(Value::as_i64),
        str_of(p, "currency"),
    ) {
        let _ = write!(
            out,
            ", {}.{:02} {}",
            minor / 100,
            (minor % 100).abs(),
            escape(currency)
        );
    }
    if let Some(url) = str_of(p, "url") {
        let _ = write!(out, ", <code>{}</code>", escape(url));
    }
    if let Some(id) = str_of(p, "id") {
        let _ = write!(out, " (id <code>{}</code>)", escape(id));
    }
    out
}

/// A role and, when recorded, a name: `customer Ada`.
fn side(role: Option<&str>, name: Option<&str>, id: Option<&str>) -> String {
    let role = escape(role.unwrap_or("someone"));
    match (name, id) {
        (Some(name), _) => format!("{role} <span class=\"who\">{}</span>", escape(name)),
        (None, Some(id)) => format!("{role} <code>{}</code>", escape(id)),
        (None, None) => role,
    }
}

fn event_row(h: &mut String, e: &TranscriptEvent) {
    let d = e.data_json();
    let (class, what) = match e.event_type.as_str() {
        "ConversationStarted" => (
            "",
            format!(
                "<strong>Conversation started</strong> by the {}{}",
                escape(str_of(&d, "startedBy").unwrap_or("?")),
                d.get("product")
                    .filter(|p| !p.is_null())
                    .map_or(String::new(), |p| format!(", about {}", product(p)))
            ),
        ),
        "MessageSent" => {
            let sender = d.get("sender").unwrap_or(&Value::Null);
            let mut what = format!(
                "<strong>Message #{}</strong> from {}",
                d.get("seq").and_then(Value::as_u64).unwrap_or(0),
                side(
                    str_of(sender, "role"),
                    str_of(&d, "senderName"),
                    str_of(sender, "id")
                )
            );
            if let Some(text) = str_of(&d, "text") {
                let _ = write!(what, "<div class=\"text\">{}</div>", escape(text));
            }
            if let Some(p) = d.get("product").filter(|p| !p.is_null()) {
                let _ = write!(what, "<div>Product card: {}</div>", product(p));
            }
            ("message", what)
        }
        "MessageRead" => (
            "",
            format!(
                "<strong>Read</strong> by {}: messages up to #{}{}",
                side(
                    str_of(&d, "readerRole"),
                    str_of(&d, "readerName"),
                    str_of(&d, "readerId")
                ),
                d.get("upToSeq").and_then(Value::as_u64).unwrap_or(0),
                if d.get("all").and_then(Value::as_bool) == Some(true) {
                    " (all)"
                } else {
                    ""
                }
            ),
        ),
        "TypingStarted" | "TypingStopped" => (
            "typing",
            format!(
                "{} {}",
                side(str_of(&d, "role"), None, str_of(&d, "userId")),
                if e.event_type == "TypingStarted" {
                    "started typing"
                } else {
                    "stopped typing"
                }
            ),
        ),
        "CurrentProductChanged" => {
            let by = d.get("by").unwrap_or(&Value::Null);
            (
                "",
                format!(
                    "<strong>Now about</strong> {}, asked by {}",
                    product(d.get("product").unwrap_or(&Value::Null)),
                    side(str_of(by, "role"), str_of(&d, "byName"), str_of(by, "id"))
                ),
            )
        }
        "SupportAccessed" => {
            let operator = d.get("operator").unwrap_or(&Value::Null);
            (
                "support",
                format!(
                    "<strong>Support access</strong> by {}: {} view, reason: <span class=\"text\">{}</span>",
                    side(
                        Some("operator"),
                        str_of(operator, "name"),
                        str_of(operator, "id")
                    ),
                    escape(&plain(d.get("view"))),
                    escape(str_of(&d, "reason").unwrap_or(""))
                ),
            )
        }
        other => (
            "",
            format!(
                "<strong>{}</strong> <code>{}</code>",
                escape(other),
                escape(&e.data)
            ),
        ),
    };
    let _ = writeln!(
        h,
        "<tr class=\"{class}\"><td class=\"rev\">{}</td><td class=\"time\">{}</td><td>{what}</td><td class=\"hash\">{}</td></tr>",
        e.revision,
        time(&e.recorded_at),
        short(e)
    );
}

/// A run of typing events in one row: who started and stopped, revisions
/// and times from first to last, the last one's hash.
fn typing_row(h: &mut String, run: &[TranscriptEvent]) {
    let (first, last) = (&run[0], &run[run.len() - 1]);
    let _ = writeln!(
        h,
        "<tr class=\"typing\"><td class=\"rev\">{}–{}</td><td class=\"time\">{}</td><td>{} typing events (started and stopped typing)</td><td class=\"hash\">{}</td></tr>",
        first.revision,
        last.revision,
        time(&first.recorded_at),
        run.len(),
        short(last)
    );
}

fn plain(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "?".to_owned(),
        Some(other) => other.to_string(),
    }
}
