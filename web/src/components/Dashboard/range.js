// Date ranges of the dashboard, in whole UTC dates, and how they map to the
// window `[from, to)` that `GET /api/vendor/analytics` takes (both as
// `YYYY-MM-DD`, midnight UTC). The route counts and groups by UTC date, so
// the page speaks UTC dates too.

export const PRESETS = [7, 30, 90];
export const DEFAULT_PRESET = 30;
/** The longest window the route accepts. */
export const MAX_DAYS = 366;

const DAY_MS = 86_400_000;

/** `YYYY-MM-DD` of a time (ms) in UTC. */
export function isoDate(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Milliseconds of midnight UTC of a `YYYY-MM-DD` date, or NaN. */
export function dateMs(date) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date ?? '')) return NaN;
  const ms = Date.parse(`${date}T00:00:00Z`);
  return Number.isNaN(ms) || isoDate(ms) !== date ? NaN : ms;
}

export function addDays(date, days) {
  return isoDate(dateMs(date) + days * DAY_MS);
}

/** The number of dates from `first` to `last`, both included. */
export function daysBetween(first, last) {
  return Math.round((dateMs(last) - dateMs(first)) / DAY_MS) + 1;
}

/**
 * A range of dates, both included: `{ first, last, days }`. A preset of `n`
 * days ends today (UTC) and starts `n - 1` days before.
 */
export function presetRange(days, now = Date.now()) {
  const last = isoDate(now);
  return { first: addDays(last, -(days - 1)), last, days };
}

/** A custom range from two dates, or `{ error }` saying what is wrong with it. */
export function customRange(first, last) {
  if (Number.isNaN(dateMs(first))) return { error: 'Pick a start date.' };
  if (Number.isNaN(dateMs(last))) return { error: 'Pick an end date.' };
  const days = daysBetween(first, last);
  if (days < 1) return { error: 'The start date must not be after the end date.' };
  if (days > MAX_DAYS) return { error: `A range may span at most ${MAX_DAYS} days.` };
  return { first, last, days };
}

/** The route's query of a range: `from` its first date, `to` the day after its last. */
export function queryOf(range) {
  return { from: range.first, to: addDays(range.last, 1) };
}

/** The range of the same length just before `range`. */
export function previousRange(range) {
  const last = addDays(range.first, -1);
  return { first: addDays(last, -(range.days - 1)), last, days: range.days };
}

/**
 * The range cut into consecutive buckets for the first-response trend: one
 * per day up to two weeks, else about a week each (at most 13 buckets, so at
 * most 13 requests); the first bucket may be shorter, the last ends with the
 * range.
 */
export function trendBuckets(range) {
  const size = range.days <= 14 ? 1 : Math.max(7, Math.ceil(range.days / 13));
  const buckets = [];
  let last = range.last;
  let left = range.days;
  while (left > 0) {
    const days = Math.min(size, left);
    const first = addDays(last, -(days - 1));
    buckets.unshift({ first, last, days });
    last = addDays(first, -1);
    left -= days;
  }
  return buckets;
}
