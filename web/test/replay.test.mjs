// Unit tests of the replay console's reading of the log (src/components/Replay/
// events.js) against a state as the state route answers it
// (fixtures/state-at-3.json: just after the vendor read message 1 of 2).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  describeEvent,
  focusSeq,
  loadAllEvents,
  namesFrom,
  parseAt,
  shortHash,
  stateRows,
  stepTo,
  supportAccessText,
} from '../src/components/Replay/events.js';

const state = JSON.parse(readFileSync(new URL('./fixtures/state-at-3.json', import.meta.url), 'utf8'));

const support = {
  position: 20,
  revision: 5,
  type: 'SupportAccessed',
  version: 1,
  data: { operator: { id: 'o-sam', name: 'Sam Reyes' }, reason: 'Refund dispute #812', view: 'state', at: '2026-12-01T09:00:00.000Z' },
  recordedAt: '2026-12-01T09:00:00.000Z',
  hash: 'f'.repeat(64),
};

test('the state at a revision: each message read or not then, and the read marker after the last one read', () => {
  const rows = stateRows(state);
  assert.deepEqual(
    rows.map((r) => (r.type === 'message' ? `#${r.message.seq} ${r.read ? 'read' : 'unread'}` : `marker ${r.side} @${r.seq}`)),
    ['#1 read', 'marker vendor @1', '#2 unread'],
  );
  assert.equal(state.sides.vendor.unread, 1);
  assert.equal(state.sides.vendor.typing, true);
  assert.deepEqual(stateRows({ messages: [] }), []);
  assert.deepEqual(stateRows(null), []);
});

test('the message an event is about is the one the console brings into view', () => {
  assert.equal(focusSeq(state), 1, 'a read: the last message it covers');
  const sent = { ...state, event: { type: 'MessageSent', data: { seq: 2 } } };
  assert.equal(focusSeq(sent), 2);
  assert.equal(focusSeq({ ...state, event: { type: 'TypingStarted', data: {} } }), 2, 'otherwise the last message');
  assert.equal(focusSeq({ messages: [], event: { type: 'ConversationStarted', data: {} } }), 0);
});

test('events in words, with the names the log records', () => {
  const names = namesFrom([state.event, support], state);
  assert.equal(names.get('c-alice'), 'Alice Martin');
  assert.equal(names.get('o-sam'), 'Sam Reyes');
  assert.equal(describeEvent(state.event, names).title, 'Bolt Bikes read up to message #1');
  assert.equal(describeEvent({ ...state.event, data: { ...state.event.data, all: true } }, names).title, 'Bolt Bikes read every message (up to #1)');
  const sent = describeEvent(
    { type: 'MessageSent', data: { seq: 2, sender: { id: 'c-alice', role: 'customer' }, kind: 'text', text: 'And   in\nsize M?' } },
    names,
  );
  assert.deepEqual([sent.kind, sent.actor, sent.title, sent.detail], ['message', 'c-alice', 'Alice Martin sent message #2', '“And in size M?”']);
  const product = describeEvent(
    { type: 'MessageSent', data: { seq: 3, sender: { id: 'v-bolt', role: 'vendor' }, kind: 'product', text: null, product: { name: 'Helmet' } } },
    names,
  );
  assert.equal(product.detail, 'Shared Helmet');
  assert.equal(
    describeEvent({ type: 'ConversationStarted', data: { startedBy: 'customer', customer: { id: 'c-alice' }, vendor: { id: 'v-bolt' }, product: { name: 'Red city bike' } } }, names).title,
    'Alice Martin started the conversation',
  );
  assert.equal(describeEvent({ type: 'TypingStopped', data: { userId: 'v-bolt', reason: 'expired' } }, names).title, 'Bolt Bikes stopped typing (timed out)');
  assert.equal(describeEvent({ type: 'TypingStarted', data: { userId: 'x-unknown' } }, names).title, 'x-unknown started typing');
  assert.equal(describeEvent({ type: 'SomethingNew', data: {} }, names).title, 'SomethingNew');
  const asked = { type: 'CurrentProductChanged', data: { product: { id: 'p-helmet', name: 'Commuter helmet' }, by: { id: 'c-new', role: 'customer' }, byName: 'Nia' } };
  assert.equal(namesFrom([asked]).get('c-new'), 'Nia');
  const d = describeEvent(asked, names);
  assert.deepEqual([d.kind, d.actor, d.title], ['product', 'c-new', 'c-new asked about Commuter helmet']);
  assert.equal(describeEvent(asked, namesFrom([asked])).title, 'Nia asked about Commuter helmet');
});

test('a support access reads as the participants see it', () => {
  const d = describeEvent(support, new Map());
  assert.equal(d.kind, 'support');
  assert.equal(d.title, 'Support (Sam Reyes) viewed this conversation: Refund dispute #812');
  assert.equal(d.detail, 'Looked at: the replay of the conversation');
  assert.equal(supportAccessText({ operator: { id: 'o-x', name: null }, reason: 'Chargeback' }), 'Support (o-x) viewed this conversation: Chargeback');
});

test('hashes are shortened for display, the full one kept', () => {
  assert.equal(shortHash(state.event.hash), '9b2c6c7d0f3e…');
  assert.equal(shortHash('abc'), 'abc');
  assert.equal(shortHash(undefined), '—');
});

test('?at= deep links and steps stay within the stream', () => {
  assert.equal(parseAt(null), null);
  assert.equal(parseAt(''), null);
  assert.equal(parseAt('0'), 0);
  assert.equal(parseAt('42'), 42);
  for (const bad of ['-1', '4.5', 'x', '1e3', ' 3']) assert.ok(Number.isNaN(parseAt(bad)), bad);
  assert.equal(stepTo(3, 5, 'previous'), 2);
  assert.equal(stepTo(0, 5, 'previous'), 0);
  assert.equal(stepTo(5, 5, 'next'), 5);
  assert.equal(stepTo(3, 5, 'first'), 0);
  assert.equal(stepTo(3, 5, 'last'), 5);
});

test('every page of events is read, following next', async () => {
  const asked = [];
  const pages = { 0: { events: [{ revision: 0 }, { revision: 1 }], next: 2 }, 2: { events: [{ revision: 2 }], next: null } };
  const all = await loadAllEvents(async (from) => {
    asked.push(from);
    return pages[from];
  });
  assert.deepEqual(asked, [0, 2]);
  assert.deepEqual(all.map((e) => e.revision), [0, 1, 2]);
});

test('an operator’s token makes a session that lands on the support page', async () => {
  const { homeOf, sessionFromToken } = await import('../src/utils/auth.js');
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const token = `${b64({ alg: 'HS256' })}.${b64({ sub: 'o-sam', role: 'operator', name: 'Sam Reyes' })}.sig`;
  const s = sessionFromToken(token);
  assert.deepEqual(s.user, { id: 'o-sam', role: 'operator', name: 'Sam Reyes' });
  assert.equal(homeOf(s.user.role), '/operator');
  assert.equal(homeOf('vendor'), '/vendor/chat');
  assert.throws(() => sessionFromToken(`${b64({})}.${b64({ sub: 'x', role: 'admin' })}.sig`), /role/);
});
