// Splits message text into plain text and http(s) links, for rendering links
// as React elements (text stays text: React escapes it; no HTML is built).

// A candidate starts with http:// or https:// not glued to a word before it
// and runs to the next whitespace or character that never belongs in a URL.
const CANDIDATE = /(?<![\p{L}\p{N}_])https?:\/\/[^\s<>"'`]+/giu;

// Punctuation that ends a sentence rather than the URL.
const TRAILING = /[.,;:!?…]$/u;

const PAIRS = { ')': '(', ']': '[', '}': '{' };

function count(s, ch) {
  let n = 0;
  for (const c of s) if (c === ch) n += 1;
  return n;
}

/** Strips trailing punctuation and closing brackets that have no opening one in the URL. */
function trimUrl(url) {
  let u = url;
  for (;;) {
    const last = u.at(-1);
    if (TRAILING.test(u)) {
      u = u.slice(0, -1);
    } else if (PAIRS[last] && count(u, last) > count(u, PAIRS[last])) {
      u = u.slice(0, -1);
    } else {
      return u;
    }
  }
}

/** The URL as a safe href (http or https with a host), or null. */
export function safeHref(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
  if (!parsed.hostname) return null;
  return url;
}

/**
 * Splits `text` into parts: `{ type: 'text', text }` and
 * `{ type: 'link', text, href }`. Only http: and https: URLs become links;
 * joining every part's text gives `text` back.
 */
export function splitLinks(text) {
  if (!text) return [];
  const parts = [];
  let at = 0;
  for (const m of text.matchAll(CANDIDATE)) {
    const url = trimUrl(m[0]);
    const href = safeHref(url);
    if (!href) continue;
    if (m.index > at) parts.push({ type: 'text', text: text.slice(at, m.index) });
    parts.push({ type: 'link', text: url, href });
    at = m.index + url.length;
  }
  if (at < text.length) parts.push({ type: 'text', text: text.slice(at) });
  return parts;
}
