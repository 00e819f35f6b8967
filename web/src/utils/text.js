// The server's rule for message text, counted the way the server counts it:
// the text is trimmed, CRLF becomes LF, and its length is the number of
// Unicode code points (an emoji such as 👍 is one character, though it is two
// UTF-16 units in JavaScript's `length`, which the textarea's own maxLength
// would count).

export const MAX_TEXT_CHARS = 4000;

/** The text as the server will store it. */
export function normalizeText(text) {
  return text.replace(/\r\n/g, '\n').trim();
}

/** Characters the server counts for `text`. */
export function countChars(text) {
  let n = 0;
  // Iterating a string yields whole code points.
  // eslint-disable-next-line no-unused-vars
  for (const _ of normalizeText(text)) n += 1;
  return n;
}

/** Characters left before the limit (negative when over it). */
export function charsLeft(text) {
  return MAX_TEXT_CHARS - countChars(text);
}
