// Unit tests of the background notifications' pure parts (utils/notify.js)
// and of the keyboard helpers (utils/focus.js): which messages are news,
// what a notification says, when to ask for permission, the dialog's focus
// trap and the unread button's target.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstUnread, trapTarget } from '../src/utils/focus.js';
import {
  createNotifier,
  newIncoming,
  notificationControl,
  notificationOf,
  PERMISSION_ANSWERED,
  shouldAsk,
} from '../src/utils/notify.js';

const SINCE = Date.parse('2026-12-01T10:00:00Z');
const conv = (id, lastMessage) => ({
  id,
  customer: { id: 'c-1', name: 'Alice' },
  vendor: { id: 'v-1', name: 'Bolt Bikes' },
  lastMessage,
});
const msg = (id, senderId, sentAt, extra = {}) => ({
  id,
  sender: { id: senderId, name: senderId === 'c-1' ? 'Alice' : 'Bolt Bikes' },
  sentAt,
  text: `text ${id}`,
  readAt: null,
  ...extra,
});

test('newIncoming: a new last message from the other side is news', () => {
  const prev = { a: conv('a', msg('m1', 'c-1', '2026-12-01T10:01:00Z')) };
  const next = { a: conv('a', msg('m2', 'c-1', '2026-12-01T10:02:00Z')) };
  assert.deepEqual(
    newIncoming(prev, next, 'v-1', SINCE).map((x) => [x.conversationId, x.message.id]),
    [['a', 'm2']],
  );
});

test('newIncoming: my own messages, unchanged ones, read ones, old ones and seen ones are not', () => {
  const prev = { a: conv('a', msg('m1', 'c-1', '2026-12-01T10:01:00Z')) };
  const same = { a: conv('a', msg('m1', 'c-1', '2026-12-01T10:01:00Z')) };
  assert.deepEqual(newIncoming(prev, same, 'v-1', SINCE), []);
  const mine = { a: conv('a', msg('m2', 'v-1', '2026-12-01T10:02:00Z')) };
  assert.deepEqual(newIncoming(prev, mine, 'v-1', SINCE), []);
  const read = { a: conv('a', msg('m2', 'c-1', '2026-12-01T10:02:00Z', { readAt: '2026-12-01T10:03:00Z' })) };
  assert.deepEqual(newIncoming(prev, read, 'v-1', SINCE), []);
  // A conversation that arrives with a later list page, its last message from last week.
  const older = { ...prev, b: conv('b', msg('m9', 'c-1', '2026-11-24T10:00:00Z')) };
  assert.deepEqual(newIncoming(prev, older, 'v-1', SINCE), []);
  const next = { a: conv('a', msg('m2', 'c-1', '2026-12-01T10:02:00Z')) };
  assert.deepEqual(newIncoming(prev, next, 'v-1', SINCE, new Set(['m2'])), []);
});

test('newIncoming: a new conversation counts, oldest first', () => {
  const next = {
    b: conv('b', msg('m5', 'c-1', '2026-12-01T10:05:00Z')),
    a: conv('a', msg('m4', 'c-1', '2026-12-01T10:04:00Z')),
  };
  assert.deepEqual(
    newIncoming({}, next, 'v-1', SINCE).map((x) => x.message.id),
    ['m4', 'm5'],
  );
});

test('notificationOf: the sender, the text or the shared product, one tag per conversation', () => {
  const c = conv('a', null);
  assert.deepEqual(notificationOf(c, msg('m1', 'c-1', 'x'), 'vendor'), { title: 'Alice', body: 'text m1', tag: 'souk-a' });
  const shared = msg('m2', 'v-1', 'x', { kind: 'product', text: null, product: { name: 'Red city bike' } });
  assert.equal(notificationOf(c, shared, 'customer').body, 'Shared Red city bike');
  const captioned = { ...shared, text: 'this one?' };
  assert.equal(notificationOf(c, captioned, 'customer').body, 'Red city bike · this one?');
  const long = msg('m3', 'c-1', 'x', { text: 'y'.repeat(300) });
  assert.equal(notificationOf(c, long, 'vendor').body.length, 140);
  // No sender name on the message: the other participant's.
  assert.equal(notificationOf(c, { ...msg('m4', 'c-1', 'x'), sender: { id: 'c-1' } }, 'vendor').title, 'Alice');
});

test('shouldAsk: only while undecided and never twice', () => {
  assert.equal(shouldAsk('default', false), true);
  assert.equal(shouldAsk('default', true), false);
  assert.equal(shouldAsk('granted', false), false);
  assert.equal(shouldAsk('denied', false), false);
});

function fakeWindow(permission) {
  const calls = { asked: 0, shown: [] };
  const store = new Map();
  class FakeNotification {
    static permission = permission;
    static requestPermission() {
      calls.asked += 1;
      return Promise.resolve('granted');
    }
    constructor(title, options) {
      calls.shown.push({ title, ...options });
    }
    close() {}
  }
  return {
    calls,
    win: {
      Notification: FakeNotification,
      localStorage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, String(v)) },
      focus() {},
    },
  };
}

test('createNotifier: asks once, on the first send, and shows only when granted', () => {
  const { win, calls } = fakeWindow('default');
  const n = createNotifier(win);
  assert.equal(calls.asked, 0, 'nothing is asked on creation (page load)');
  n.prime();
  n.prime();
  assert.equal(calls.asked, 1);
  assert.equal(createNotifier(win).prime(), undefined);
  assert.equal(calls.asked, 1, 'a reload does not ask again');
  n.announce({ title: 't', body: 'b', tag: 'souk-a' });
  assert.deepEqual(calls.shown, [], 'not shown while undecided');

  const granted = fakeWindow('granted');
  const g = createNotifier(granted.win);
  g.announce({ title: 'Alice', body: 'hi', tag: 'souk-a' });
  assert.equal(granted.calls.shown.length, 1);
  assert.equal(granted.calls.shown[0].title, 'Alice');
  assert.equal(granted.calls.shown[0].tag, 'souk-a');
});

test('createNotifier: without storage (a private mode) it still asks only once per page', () => {
  const { win, calls } = fakeWindow('default');
  Object.defineProperty(win, 'localStorage', {
    get() {
      throw new Error('SecurityError');
    },
  });
  const n = createNotifier(win);
  n.prime();
  n.prime();
  assert.equal(calls.asked, 1);
});

test('trapTarget: Tab wraps at the ends of the dialog and comes back in from outside', () => {
  assert.equal(trapTarget(3, 2, false), 0);
  assert.equal(trapTarget(3, 0, true), 2);
  assert.equal(trapTarget(3, 1, false), null);
  assert.equal(trapTarget(3, 1, true), null);
  assert.equal(trapTarget(3, -1, false), 0);
  assert.equal(trapTarget(3, -1, true), 2);
  assert.equal(trapTarget(0, -1, false), null);
});

test('firstUnread: the first conversation in list order with unread messages, not the open one', () => {
  const order = ['a', 'b', 'c'];
  assert.equal(firstUnread(order, { b: 2, c: 1 }), 'b');
  assert.equal(firstUnread(order, { b: 2, c: 1 }, 'b'), 'c');
  assert.equal(firstUnread(order, { a: 0 }), null);
});

test('notificationControl: offered only once the page asked; ask again while undecided, say where when declined', () => {
  for (const permission of ['default', 'denied', 'granted', undefined]) {
    assert.equal(notificationControl(permission, false), null, `not asked yet (${permission}): the first send asks`);
  }
  assert.equal(notificationControl('default', true), 'ask', 'the prompt was dismissed');
  assert.equal(notificationControl('denied', true), 'blocked');
  assert.equal(notificationControl('granted', true), null);
  assert.equal(notificationControl(undefined, true), null, 'no Notification API');
});

test('createNotifier: a dismissed prompt is offered again, and the page hears each answer', async () => {
  const answered = [];
  let permission = 'default';
  let asked = 0;
  const store = new Map();
  class Dismissing {
    static get permission() {
      return permission;
    }
    static requestPermission() {
      asked += 1;
      return Promise.resolve(permission); // dismissed: still undecided
    }
  }
  const win = {
    Notification: Dismissing,
    localStorage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, String(v)) },
    Event: class {
      constructor(type) {
        this.type = type;
      }
    },
    dispatchEvent: (e) => answered.push(e.type),
  };
  const n = createNotifier(win);
  assert.equal(n.control(), null, 'nothing offered before the first send');
  n.prime();
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(answered, [PERMISSION_ANSWERED], 'the page hears that the prompt was answered');
  assert.equal(n.control(), 'ask');
  assert.equal(createNotifier(win).control(), 'ask', 'after a reload too');
  n.ask();
  assert.equal(asked, 2, 'the button asks again');
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(answered.length, 2);
  permission = 'denied';
  assert.equal(n.control(), 'blocked');
  permission = 'granted';
  assert.equal(n.control(), null);
});
