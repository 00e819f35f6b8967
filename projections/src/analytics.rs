//! Vendor analytics (`GET /api/vendor/analytics`), from the read models.
//!
//! # Definitions
//!
//! For a vendor (a user id acting as vendor) and a window `[from, to)`:
//!
//! - `conversations`: the vendor's conversations with at least one message
//!   (from either side) sent in the window;
//! - `newConversations`: the vendor's conversations started in the window;
//! - `messagesReceived` / `messagesSent`: messages sent in the window in the
//!   vendor's conversations by the customer / by the vendor;
//! - `unreadBacklog`: the vendor's unread total now (not windowed);
//! - `firstResponseSeconds`: over the vendor's conversations whose first
//!   customer message was sent in the window and that have a vendor message
//!   after it (by `seq`): the seconds from that first customer message to the
//!   first vendor message after it (0 if the clocks put it earlier);
//!   `p50`/`p90` by nearest rank (the smallest sample with at least that
//!   share of samples at or below it), `null` without samples;
//! - `byDay`: every UTC date from the date of `from` to the date of the last
//!   millisecond of the window, ascending, zero-filled, with that day's
//!   `messagesReceived` and `messagesSent` (inside the window);
//! - `byHour`: always 24 entries, the UTC hours of the day 0 to 23 in order,
//!   zero-filled: for hour `h`, the `messagesReceived` and `messagesSent` of
//!   the window sent from `h:00` to `h:59:59.999` UTC on any of its days
//!   (so the entries add up to the window's totals);
//! - `topProducts`: the products of conversations started in the window, by
//!   number of such conversations descending, then `productId` ascending,
//!   at most [`TOP_PRODUCTS`]; `name` is the product's name in the latest of
//!   those conversations.
//!
//! A message's time is `sent_at`, the `at` of its `MessageSent` event.
//! An empty window (`to <= from`) has zero counts, no days, 24 zero hours
//! and no samples. The window's length is not bounded here (`byDay` has
//! one entry per day): the api bounds what it accepts.

use std::collections::BTreeMap;

use chrono::DateTime;
use rusqlite::{params, Connection, OptionalExtension};
use souk_domain::{ProductId, Role, Timestamp, UserId};

use crate::error::ProjectionError;
use crate::views::{DayFigures, HourFigures, Percentiles, TopProduct, VendorAnalytics};

/// How many products `topProducts` lists at most.
pub const TOP_PRODUCTS: usize = 10;

const DAY_MS: i64 = 86_400_000;

/// The UTC day (days since the epoch) of a time in milliseconds.
fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// `byHour` from per-hour `(received, sent)` counts: all 24 hours.
fn hours(counts: &[(u64, u64); 24]) -> Vec<HourFigures> {
    (0u8..24)
        .zip(counts)
        .map(|(hour, &(received, sent))| HourFigures {
            hour,
            messages_received: received,
            messages_sent: sent,
        })
        .collect()
}

fn date_of_day(day: i64) -> String {
    DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The nearest-rank `p`-th percentile of sorted samples, in seconds.
fn percentile(sorted_ms: &[i64], p: usize) -> Option<f64> {
    if sorted_ms.is_empty() {
        return None;
    }
    let rank = (p * sorted_ms.len()).div_ceil(100).max(1);
    Some(sorted_ms[rank - 1] as f64 / 1000.0)
}

pub(crate) fn analytics(
    conn: &mut Connection,
    vendor: &UserId,
    from: Timestamp,
    to: Timestamp,
) -> Result<VendorAnalytics, ProjectionError> {
    let (from, to) = (from.millis(), to.millis());
    let v = vendor.as_str();
    let tx = conn.transaction()?;

    let unread_backlog: i64 = tx
        .query_row(
            "SELECT unread FROM inboxes WHERE user_id = ?1 AND role = ?2",
            params![v, Role::Vendor.as_str()],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);

    let mut result = VendorAnalytics {
        conversations: 0,
        new_conversations: 0,
        messages_received: 0,
        messages_sent: 0,
        unread_backlog: unread_backlog.max(0) as u64,
        first_response_seconds: Percentiles::default(),
        by_day: Vec::new(),
        by_hour: hours(&[(0, 0); 24]),
        top_products: Vec::new(),
    };
    if to <= from {
        tx.finish()?;
        return Ok(result);
    }

    let (conversations, received, sent): (i64, Option<i64>, Option<i64>) = tx.query_row(
        "SELECT COUNT(DISTINCT conversation_id), SUM(sender_role = 'customer'),
                SUM(sender_role = 'vendor')
         FROM messages WHERE vendor_id = ?1 AND sent_at >= ?2 AND sent_at < ?3",
        params![v, from, to],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    result.conversations = conversations as u64;
    result.messages_received = received.unwrap_or(0) as u64;
    result.messages_sent = sent.unwrap_or(0) as u64;

    // One scan of the index `messages_by_vendor_time` for both `byDay` and
    // `byHour`: a row per (day, hour) that has messages, at most 24 a day.
    // Floor division in SQL (`/` truncates towards zero).
    let mut per_day: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    let mut per_hour = [(0u64, 0u64); 24];
    {
        let mut stmt = tx.prepare(
            "SELECT (sent_at - (((sent_at % 86400000) + 86400000) % 86400000)) / 86400000 AS day,
                    (((sent_at % 86400000) + 86400000) % 86400000) / 3600000 AS hour,
                    SUM(sender_role = 'customer'), SUM(sender_role = 'vendor')
             FROM messages WHERE vendor_id = ?1 AND sent_at >= ?2 AND sent_at < ?3
             GROUP BY day, hour",
        )?;
        let mut rows = stmt.query(params![v, from, to])?;
        while let Some(r) = rows.next()? {
            let (day, hour): (i64, i64) = (r.get(0)?, r.get(1)?);
            let (received, sent) = (r.get::<_, i64>(2)? as u64, r.get::<_, i64>(3)? as u64);
            let d = per_day.entry(day).or_default();
            d.0 += received;
            d.1 += sent;
            let h = usize::try_from(hour)
                .ok()
                .and_then(|h| per_hour.get_mut(h))
                .ok_or_else(|| ProjectionError::Corrupt(format!("hour of the day {hour}")))?;
            h.0 += received;
            h.1 += sent;
        }
    }
    result.by_hour = hours(&per_hour);
    result.by_day = (day_of(from)..=day_of(to - 1))
        .map(|day| {
            let (received, sent) = per_day.get(&day).copied().unwrap_or((0, 0));
            DayFigures {
                date: date_of_day(day),
                messages_received: received,
                messages_sent: sent,
            }
        })
        .collect();

    // Conversations started in the window, for the count and the products.
    let started: Vec<(Option<String>, Option<String>, i64, String)> = {
        let mut stmt = tx.prepare(
            "SELECT product_id, product_name, created_at, id FROM conversations
             WHERE vendor_id = ?1 AND created_at >= ?2 AND created_at < ?3",
        )?;
        let rows = stmt.query_map(params![v, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    result.new_conversations = started.len() as u64;
    // product id -> (count, (created_at, conversation id) of the latest, its name)
    let mut products: BTreeMap<String, (u64, (i64, String), String)> = BTreeMap::new();
    for (product_id, name, created_at, id) in started {
        let (Some(product_id), Some(name)) = (product_id, name) else {
            continue;
        };
        let entry = products
            .entry(product_id)
            .or_insert_with(|| (0, (created_at, id.clone()), name.clone()));
        entry.0 += 1;
        if (created_at, &id) > (entry.1 .0, &entry.1 .1) {
            entry.1 = (created_at, id);
            entry.2 = name;
        }
    }
    let mut top: Vec<(String, u64, String)> = products
        .into_iter()
        .map(|(product_id, (count, _, name))| (product_id, count, name))
        .collect();
    // The map iterates by product id, and the sort is stable.
    top.sort_by_key(|t| std::cmp::Reverse(t.1));
    result.top_products = top
        .into_iter()
        .take(TOP_PRODUCTS)
        .map(|(product_id, conversations, name)| {
            ProductId::parse(&product_id)
                .map(|product_id| TopProduct {
                    product_id,
                    name,
                    conversations,
                })
                .map_err(|_| ProjectionError::Corrupt(format!("product id {product_id:?}")))
        })
        .collect::<Result<_, _>>()?;

    let mut samples: Vec<i64> = {
        let mut stmt = tx.prepare(
            "SELECT first_response_at - first_customer_at FROM conversations
             WHERE vendor_id = ?1 AND first_customer_at >= ?2 AND first_customer_at < ?3
               AND first_response_at IS NOT NULL",
        )?;
        let rows = stmt.query_map(params![v, from, to], |r| r.get::<_, i64>(0))?;
        rows.map(|d| d.map(|d| d.max(0)))
            .collect::<Result<_, _>>()?
    };
    samples.sort_unstable();
    result.first_response_seconds = Percentiles {
        p50: percentile(&samples, 50),
        p90: percentile(&samples, 90),
    };
    tx.finish()?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7000], 90), Some(7.0));
        let ten: Vec<i64> = (1..=10).map(|s| s * 1000).collect();
        assert_eq!(percentile(&ten, 50), Some(5.0));
        assert_eq!(percentile(&ten, 90), Some(9.0));
        let four = [1000, 2000, 3000, 4500];
        assert_eq!(percentile(&four, 50), Some(2.0));
        assert_eq!(percentile(&four, 90), Some(4.5));
    }

    #[test]
    fn days_are_utc_and_floor() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(-1), -1);
        assert_eq!(date_of_day(day_of(1_795_000_000_123)), "2026-11-18");
    }
}
