//! [`verify`]: walks the log (or one stream) in pages and checks every
//! event's hash against its predecessor's (see the parent module).

use serde::Serialize;

use super::{BrokenLink, ChainUpgrade, Heads};
use crate::{Direction, EventStore, Position, ReadFrom, StoreError};

/// Events read per page.
const PAGE: usize = 1000;

/// How far a [`verify`] has got, after each page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyProgress {
    /// Events checked so far.
    pub events: u64,
    /// The position of the last event checked.
    pub position: Position,
    /// The last position the walk goes to (the log's last when it started);
    /// for one stream, 0: unknown.
    pub last_position: Position,
}

/// What a [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Events whose hash was checked, including the broken one.
    pub events_checked: u64,
    /// Streams seen.
    pub streams: usize,
    /// The position of the last event checked, 0 if none.
    pub last_position: Position,
    /// The first event whose hash does not match (the walk stops there);
    /// `None`: every event checked is intact.
    pub broken: Option<BrokenLink>,
    /// When the log was hashed after the fact, if it was written before the
    /// chain existed.
    pub upgrade: Option<ChainUpgrade>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Checks the chain of `stream` from its first event, or of every stream
/// (the whole log in position order, up to its last position when the walk
/// starts), reading pages of [`PAGE`] events and calling `progress` after
/// each. Stops at the first broken link. Fails only when the log cannot be
/// read.
pub async fn verify(
    store: &dyn EventStore,
    stream: Option<&str>,
    mut progress: impl FnMut(VerifyProgress),
) -> Result<VerifyReport, StoreError> {
    let upgrade = store.chain_upgrade().await?;
    let mut heads = Heads::new();
    let mut report = VerifyReport {
        events_checked: 0,
        streams: 0,
        last_position: 0,
        broken: None,
        upgrade,
    };
    let end = match stream {
        Some(_) => 0,
        None => store.last_position().await?,
    };
    let mut next_revision = 0;
    let mut next_position = 1;
    loop {
        let page = match stream {
            Some(name) => {
                store
                    .read_stream(
                        name,
                        ReadFrom::Revision(next_revision),
                        Direction::Forwards,
                        PAGE,
                    )
                    .await?
            }
            None if next_position > end => Vec::new(),
            None => {
                let limit = PAGE.min((end + 1 - next_position) as usize);
                store.read_all(next_position, limit).await?
            }
        };
        let Some(last) = page.last() else {
            break;
        };
        next_revision = last.revision + 1;
        next_position = last.position + 1;
        for event in &page {
            report.events_checked += 1;
            report.last_position = event.position;
            if let Err(broken) = heads.check_next(event) {
                report.broken = Some(broken);
                break;
            }
        }
        progress(VerifyProgress {
            events: report.events_checked,
            position: report.last_position,
            last_position: end,
        });
        if report.broken.is_some() || page.len() < PAGE && stream.is_some() {
            break;
        }
    }
    // A stream whose first event is the broken one is a stream seen too.
    let unseen_broken = report
        .broken
        .as_ref()
        .is_some_and(|b| heads.get(&b.stream).is_none());
    report.streams = heads.streams() + usize::from(unseen_broken);
    Ok(report)
}
