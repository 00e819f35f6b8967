// Unit tests of the dashboard's ranges (how a picked range becomes the
// analytics route's window) and of how it writes its figures.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  customRange,
  daysBetween,
  presetRange,
  previousRange,
  queryOf,
  trendBuckets,
} from '../src/components/Dashboard/range.js';
import {
  busiestHour,
  formatDuration,
  hourRange,
  rangeLabel,
  responseChange,
  shortDate,
} from '../src/components/Dashboard/format.js';

const NOW = Date.parse('2026-12-01T07:40:00Z');

test('a preset of n days ends today (UTC) and the window ends at the next midnight', () => {
  const r = presetRange(30, NOW);
  assert.deepEqual(r, { first: '2026-11-02', last: '2026-12-01', days: 30 });
  // The route's window [from, to): byDay then has exactly 30 dates.
  assert.deepEqual(queryOf(r), { from: '2026-11-02', to: '2026-12-02' });
  assert.deepEqual(presetRange(7, NOW), { first: '2026-11-25', last: '2026-12-01', days: 7 });
  // Just before midnight UTC it is still the same date.
  assert.equal(presetRange(1, Date.parse('2026-12-31T23:59:59.999Z')).last, '2026-12-31');
});

test('a custom range includes both dates and is checked as the route checks it', () => {
  assert.deepEqual(customRange('2026-11-10', '2026-11-10'), { first: '2026-11-10', last: '2026-11-10', days: 1 });
  assert.deepEqual(queryOf(customRange('2026-02-27', '2026-02-28')), { from: '2026-02-27', to: '2026-03-01' });
  assert.match(customRange('2026-11-11', '2026-11-10').error, /start date must not be after/);
  assert.match(customRange('', '2026-11-10').error, /start date/);
  assert.match(customRange('2026-02-30', '2026-03-02').error, /start date/);
  assert.equal(customRange('2025-12-01', '2026-12-01').days, 366);
  assert.match(customRange('2025-11-30', '2026-12-01').error, /at most 366 days/);
});

test('the previous period has the same length and ends the day before', () => {
  const r = presetRange(30, NOW);
  assert.deepEqual(previousRange(r), { first: '2026-10-03', last: '2026-11-01', days: 30 });
  assert.equal(daysBetween('2026-10-03', '2026-11-01'), 30);
});

test('trend buckets: days up to two weeks, else weeks, covering the range exactly', () => {
  const week = trendBuckets(presetRange(7, NOW));
  assert.equal(week.length, 7);
  assert.ok(week.every((b) => b.days === 1));
  for (const days of [30, 90, 366]) {
    const r = presetRange(days, NOW);
    const buckets = trendBuckets(r);
    assert.ok(buckets.length <= 14, `${days}: ${buckets.length} buckets`);
    assert.equal(buckets[0].first, r.first);
    assert.equal(buckets[buckets.length - 1].last, r.last);
    assert.equal(
      buckets.reduce((n, b) => n + b.days, 0),
      days,
    );
    for (let i = 1; i < buckets.length; i += 1) {
      assert.equal(daysBetween(buckets[i - 1].last, buckets[i].first), 2, 'consecutive, no gap');
    }
  }
  assert.deepEqual(
    trendBuckets(presetRange(30, NOW)).map((b) => b.days),
    [2, 7, 7, 7, 7],
  );
});

test('durations read as people say them', () => {
  assert.equal(formatDuration(null), '—');
  assert.equal(formatDuration(0), '0 s');
  assert.equal(formatDuration(42.4), '42 s');
  assert.equal(formatDuration(720), '12 min');
  assert.equal(formatDuration(7500), '2 h 05 min');
  assert.equal(formatDuration(3 * 86400 + 3600 * 5), '3 d 5 h');
});

test('dates and changes', () => {
  assert.equal(shortDate('2026-12-01'), '1 Dec');
  assert.equal(rangeLabel('2026-11-25', '2026-12-01'), '25 Nov – 1 Dec');
  assert.equal(rangeLabel('2026-12-01', '2026-12-01'), '1 Dec');
  assert.equal(responseChange(600, null), null);
  assert.equal(responseChange(null, 600), null);
  assert.deepEqual(responseChange(300, 600), { direction: 'faster', percent: 50 });
  assert.deepEqual(responseChange(900, 600), { direction: 'slower', percent: 50 });
  assert.deepEqual(responseChange(600, 600), { direction: 'same', percent: 0 });
});

test('hours of the day and the busiest one', () => {
  assert.equal(hourRange(0), '00:00–01:00');
  assert.equal(hourRange(9), '09:00–10:00');
  assert.equal(hourRange(23), '23:00–00:00');
  const hours = Array.from({ length: 24 }, (_, hour) => ({ hour, messagesReceived: 0, messagesSent: 0 }));
  assert.equal(busiestHour(hours), null);
  hours[8] = { hour: 8, messagesReceived: 1, messagesSent: 4 };
  hours[19] = { hour: 19, messagesReceived: 5, messagesSent: 0 };
  hours[20] = { hour: 20, messagesReceived: 2, messagesSent: 1 };
  // Received plus sent; of equals, the earliest.
  assert.deepEqual(busiestHour(hours), { hour: 8, total: 5 });
  hours[20] = { hour: 20, messagesReceived: 2, messagesSent: 4 };
  assert.deepEqual(busiestHour(hours), { hour: 20, total: 6 });
});
