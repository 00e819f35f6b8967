// The matching message of a search result, cut around its first matching
// word, with the words the search found marked. The server finds words that
// start with a term, whatever their case and accents; this marks the same
// words.

/** Lower case without accents ("Café" -> "cafe"). */
export function fold(s) {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/** The words of a search, as the server splits them (letters and digits). */
export function searchWords(search) {
  return fold(search ?? '').match(/[\p{L}\p{N}]+/gu) ?? [];
}

const WORD = /[\p{L}\p{N}]+/gu;

/**
 * `text` in parts `{ text, hit }`, `hit` for each word starting with one of
 * the search's words; when the first hit is past `lead` characters, the
 * text before it is cut to an ellipsis and the last words before it.
 */
export function snippetParts(text, search, { lead = 24 } = {}) {
  const words = searchWords(search);
  const parts = [];
  let at = 0;
  let first = -1;
  for (const m of (text ?? '').matchAll(WORD)) {
    const w = fold(m[0]);
    if (!words.some((t) => w.startsWith(t))) continue;
    if (first < 0) first = m.index;
    if (m.index > at) parts.push({ text: text.slice(at, m.index), hit: false });
    parts.push({ text: m[0], hit: true });
    at = m.index + m[0].length;
  }
  if (at < (text ?? '').length) parts.push({ text: text.slice(at), hit: false });
  if (first > lead && parts.length > 0 && !parts[0].hit) {
    const before = parts[0].text;
    const cut = before.slice(before.length - lead);
    const space = cut.indexOf(' ');
    parts[0] = { text: `…${space >= 0 ? cut.slice(space + 1) : cut}`, hit: false };
  }
  return parts;
}
