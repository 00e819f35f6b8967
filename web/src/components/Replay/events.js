// The replay console's reading of a conversation's log: each recorded event in
// words, who did it, names learnt from the events, hashes for display, and the
// `?at=` deep link. Pure functions (tested by web/test/replay.test.mjs).

/** The first characters of an event hash, enough to tell events apart on screen. */
export function shortHash(hash, length = 12) {
  if (typeof hash !== 'string' || hash.length === 0) return '—';
  return hash.length > length ? `${hash.slice(0, length)}…` : hash;
}

/**
 * User id to display name, from what the events record: the participants of
 * ConversationStarted, then the latest senderName / readerName / operator name.
 */
export function namesFrom(events, state) {
  const names = new Map();
  const put = (id, name) => {
    if (id && name) names.set(id, name);
  };
  for (const who of [state?.customer, state?.vendor]) put(who?.id, who?.name);
  for (const e of events ?? []) {
    const d = e.data ?? {};
    switch (e.type) {
      case 'ConversationStarted':
        put(d.customer?.id, d.customer?.name);
        put(d.vendor?.id, d.vendor?.name);
        break;
      case 'MessageSent':
        put(d.sender?.id, d.senderName);
        break;
      case 'MessageRead':
        put(d.readerId, d.readerName);
        break;
      case 'SupportAccessed':
        put(d.operator?.id, d.operator?.name);
        break;
      case 'CurrentProductChanged':
        put(d.by?.id, d.byName);
        break;
      default:
        break;
    }
  }
  return names;
}

const nameOf = (names, id) => (id ? names.get(id) ?? id : 'Someone');

function clip(text, max = 80) {
  if (!text) return '';
  const one = String(text).replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

const VIEWS = {
  conversation: 'the conversation and its messages',
  events: 'the recorded events',
  state: 'the replay of the conversation',
  transcript: 'the transcript',
};

/** `Support (Sam Reyes) viewed this conversation: <reason>`: how participants see an operator's access. */
export function supportAccessText(data) {
  const who = data?.operator?.name || data?.operator?.id || 'support staff';
  return `Support (${who}) viewed this conversation: ${data?.reason ?? ''}`.trim();
}

/**
 * One recorded event in words: `{ kind, actor, title, detail }`. `kind` is a
 * short class for styling (`start`, `message`, `read`, `typing`, `support`,
 * `product`, `other`), `actor` the user id who acted (or null).
 */
export function describeEvent(event, names = new Map()) {
  const d = event?.data ?? {};
  switch (event?.type) {
    case 'ConversationStarted': {
      const starter = d.startedBy === 'vendor' ? d.vendor : d.customer;
      return {
        kind: 'start',
        actor: starter?.id ?? null,
        title: `${nameOf(names, starter?.id)} started the conversation`,
        detail: d.product?.name ? `About ${d.product.name}` : '',
      };
    }
    case 'MessageSent':
      return {
        kind: 'message',
        actor: d.sender?.id ?? null,
        title: `${nameOf(names, d.sender?.id)} sent message #${d.seq}`,
        detail:
          d.kind === 'product' && d.product
            ? `Shared ${d.product.name}${d.text ? `: “${clip(d.text)}”` : ''}`
            : `“${clip(d.text)}”`,
      };
    case 'MessageRead':
      return {
        kind: 'read',
        actor: d.readerId ?? null,
        title: d.all
          ? `${nameOf(names, d.readerId)} read every message (up to #${d.upToSeq})`
          : `${nameOf(names, d.readerId)} read up to message #${d.upToSeq}`,
        detail: '',
      };
    case 'TypingStarted':
      return { kind: 'typing', actor: d.userId ?? null, title: `${nameOf(names, d.userId)} started typing`, detail: '' };
    case 'TypingStopped': {
      const why = { expired: ' (timed out)', messageSent: ' (sent a message)' }[d.reason] ?? '';
      return { kind: 'typing', actor: d.userId ?? null, title: `${nameOf(names, d.userId)} stopped typing${why}`, detail: '' };
    }
    case 'SupportAccessed':
      return {
        kind: 'support',
        actor: d.operator?.id ?? null,
        title: supportAccessText(d),
        detail: d.view ? `Looked at: ${VIEWS[d.view] ?? d.view}` : '',
      };
    case 'CurrentProductChanged':
      return {
        kind: 'product',
        actor: d.by?.id ?? null,
        title: `${nameOf(names, d.by?.id)} asked about ${d.product?.name ?? 'another product'}`,
        detail: 'The conversation is about this product from now on',
      };
    default:
      return { kind: 'other', actor: null, title: String(event?.type ?? 'Unknown event'), detail: '' };
  }
}

/**
 * The revision a `?at=` value asks for: a non-negative integer, or null when
 * the parameter is absent (the latest). Anything else is `NaN`, which the
 * console reports (the server would refuse it with 400).
 */
export function parseAt(value) {
  if (value === null || value === undefined || value === '') return null;
  return /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN;
}

/** The revision one step away from `at` within `[0, last]`. */
export function stepTo(at, last, how) {
  switch (how) {
    case 'first':
      return 0;
    case 'previous':
      return Math.max(0, at - 1);
    case 'next':
      return Math.min(last, at + 1);
    case 'last':
      return last;
    default:
      return at;
  }
}

export const SIDES = ['customer', 'vendor'];

/**
 * What the state view draws, in order: each message (`read`: whether the
 * other side's marker covered it at that moment) followed by the read
 * markers that stand just after it (`{ type: 'marker', side, seq }`: that
 * side has read the other side's messages up to there).
 */
export function stateRows(state) {
  const markers = SIDES.map((side) => ({ side, seq: state?.sides?.[side]?.readUpToSeq ?? 0 })).filter((x) => x.seq > 0);
  const rows = [];
  for (const m of state?.messages ?? []) {
    rows.push({ type: 'message', key: m.id, message: m, read: !!m.readAt });
    for (const x of markers) if (x.seq === m.seq) rows.push({ type: 'marker', key: `marker-${x.side}`, ...x });
  }
  return rows;
}

/**
 * The seq of the message the state's event is about: the one sent, or the
 * last one a read covers; otherwise the last message (0 when none).
 */
export function focusSeq(state) {
  const d = state?.event?.data ?? {};
  const last = state?.messages?.at(-1)?.seq ?? 0;
  if (state?.event?.type === 'MessageSent' && d.seq) return d.seq;
  if (state?.event?.type === 'MessageRead' && d.upToSeq) return Math.min(d.upToSeq, last);
  return last;
}

/** Reads every page of a conversation's events (`page(from)` answers `{ events, next }`). */
export async function loadAllEvents(page) {
  const all = [];
  let from = 0;
  for (let guard = 0; guard < 10_000; guard += 1) {
    const res = await page(from);
    all.push(...(res?.events ?? []));
    if (res?.next === null || res?.next === undefined || res.next <= from) break;
    from = res.next;
  }
  return all;
}
