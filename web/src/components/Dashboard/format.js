// How the dashboard writes its figures: durations, dates and changes.

/** A duration in seconds as a person says it: "45 s", "12 min", "2 h 05 min", "1 d 3 h". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${String(minutes % 60).padStart(2, '0')} min`;
  const days = Math.floor(hours / 24);
  return `${days} d ${hours % 24} h`;
}

/** Minutes, one decimal, for chart axes. */
export function toMinutes(seconds) {
  return seconds === null || seconds === undefined ? null : Math.round(seconds / 6) / 10;
}

const short = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
const long = new Intl.DateTimeFormat('en-GB', {
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  timeZone: 'UTC',
});

/** "1 Dec" of a `YYYY-MM-DD` date. */
export function shortDate(date) {
  return short.format(new Date(`${date}T00:00:00Z`));
}

/** "Tue, 1 Dec 2026" of a `YYYY-MM-DD` date. */
export function longDate(date) {
  return long.format(new Date(`${date}T00:00:00Z`));
}

/** "1 Dec – 7 Dec" of a range of dates (one date when they are equal). */
export function rangeLabel(first, last) {
  return first === last ? shortDate(first) : `${shortDate(first)} – ${shortDate(last)}`;
}

const twoDigits = (n) => String(n).padStart(2, '0');

/** "19:00–20:00" of a UTC hour of the day (0 to 23; hour 23 ends at 00:00). */
export function hourRange(hour) {
  return `${twoDigits(hour)}:00–${twoDigits((hour + 1) % 24)}:00`;
}

/**
 * The busiest hour of the route's `byHour` (received plus sent), the
 * earliest of equals: `{ hour, total }`, or `null` when every hour is zero.
 */
export function busiestHour(byHour) {
  let best = null;
  for (const h of byHour) {
    const total = h.messagesReceived + h.messagesSent;
    if (total > 0 && (!best || total > best.total)) best = { hour: h.hour, total };
  }
  return best;
}

/**
 * How a response time changed from the previous period: `null` when either
 * side has no figure; else `{ direction: 'faster' | 'slower' | 'same', percent }`
 * (percent of the previous figure, rounded).
 */
export function responseChange(current, previous) {
  if (current === null || current === undefined || !previous) return null;
  const percent = Math.round((Math.abs(current - previous) / previous) * 100);
  if (percent === 0) return { direction: 'same', percent };
  return { direction: current < previous ? 'faster' : 'slower', percent };
}
