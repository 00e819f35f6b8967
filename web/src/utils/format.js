// Formatting of prices, times and names for display.

const fractionDigitsCache = new Map();

function fractionDigits(currency) {
  if (!fractionDigitsCache.has(currency)) {
    let digits = 2;
    try {
      digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
        .maximumFractionDigits;
    } catch {
      digits = 2;
    }
    fractionDigitsCache.set(currency, digits);
  }
  return fractionDigitsCache.get(currency);
}

/**
 * A price from its minor units (cents) and ISO 4217 currency: 49999 EUR is
 * "€499.99", 1500 JPY is "¥1,500" (the yen has no minor unit).
 */
export function formatPrice(priceMinor, currency, locale) {
  if (priceMinor === null || priceMinor === undefined) return '';
  if (!currency) return String(priceMinor);
  const digits = fractionDigits(currency);
  const amount = priceMinor / 10 ** digits;
  try {
    return new Intl.NumberFormat(locale, {
      style: 'currency',
      currency,
      minimumFractionDigits: amount % 1 === 0 && digits > 0 ? 0 : digits,
      maximumFractionDigits: digits,
    }).format(amount);
  } catch {
    return `${amount.toFixed(digits)} ${currency}`;
  }
}

function startOfDay(d) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

const DAY = 86_400_000;

/**
 * Hours and minutes in the reader's locale: "14:05" in en-GB, "02:05 PM" in
 * en-US. The one helper for clock times in the chat (bubbles and the list).
 * `locale` is for tests; the app passes none (the browser's own locale).
 */
export function formatClock(iso, locale = undefined) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' }).format(d);
}

/** "14:05" today, "Yesterday", "Mon" this week, else "12 Nov" — for the list. */
export function formatListTime(iso, now = new Date()) {
  if (!iso) return '';
  const d = new Date(iso);
  const days = Math.round((startOfDay(now) - startOfDay(d)) / DAY);
  if (days <= 0) return formatClock(iso);
  if (days === 1) return 'Yesterday';
  if (days < 7) return d.toLocaleDateString(undefined, { weekday: 'short' });
  return d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

/** "Today", "Yesterday", "Monday, 12 November" — separators in the history. */
export function formatDay(iso, now = new Date()) {
  const d = new Date(iso);
  const days = Math.round((startOfDay(now) - startOfDay(d)) / DAY);
  if (days <= 0) return 'Today';
  if (days === 1) return 'Yesterday';
  const sameYear = d.getFullYear() === now.getFullYear();
  return d.toLocaleDateString(undefined, {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    ...(sameYear ? {} : { year: 'numeric' }),
  });
}

export function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** "last seen 5 min ago" for an offline participant. */
export function formatLastSeen(iso, now = Date.now()) {
  if (!iso) return 'offline';
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return 'last seen just now';
  const m = Math.round(s / 60);
  if (m < 60) return `last seen ${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `last seen ${h} h ago`;
  return `last seen ${formatListTime(iso)}`;
}

export function initials(name) {
  const words = String(name ?? '?').trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  const letters = words.length === 1 ? [...words[0]].slice(0, 2) : [[...words[0]][0], [...words[1]][0]];
  return letters.join('').toUpperCase();
}

/** A stable hue for a user's avatar. */
export function hueOf(id) {
  let h = 0;
  for (const ch of String(id ?? '')) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

/** Resolves a possibly relative URL (e.g. `/products/bike.svg`) against this page. */
export function absoluteUrl(url) {
  if (!url) return url;
  try {
    return new URL(url, window.location.origin).href;
  } catch {
    return url;
  }
}
