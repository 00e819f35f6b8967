// Unit tests of the search result snippet (utils/snippet.js).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fold, searchWords, snippetParts } from '../src/utils/snippet.js';

const marked = (parts) => parts.filter((p) => p.hit).map((p) => p.text);
const joined = (parts) => parts.map((p) => p.text).join('');

test('words are folded as the server folds them', () => {
  assert.equal(fold('Café ÜMIT'), 'cafe umit');
  assert.deepEqual(searchWords('reply #7, Cafe'), ['reply', '7', 'cafe']);
  assert.deepEqual(searchWords('#'), []);
});

test('the words starting with a search word are marked, the text kept', () => {
  const text = 'Is the frame 54 cm? Vendor reply #7 at the Café';
  const parts = snippetParts(text, '54 #7 cafe');
  assert.deepEqual(marked(parts), ['54', '7', 'Café']);
  assert.equal(joined(parts), text);
  assert.deepEqual(marked(snippetParts('Bikes and bike racks', 'bik')), ['Bikes', 'bike']);
  // Only from the start of a word.
  assert.deepEqual(marked(snippetParts('a motorbike', 'bike')), []);
});

test('a first match far into the text is shown with the words just before it', () => {
  const text = 'aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj Café';
  const parts = snippetParts(text, 'cafe');
  assert.equal(parts[0].text, '…gggg hhhh iiii jjjj ');
  assert.equal(parts[1].text, 'Café');
  // Near the start: nothing is cut.
  assert.equal(joined(snippetParts('the Café', 'cafe')), 'the Café');
});
