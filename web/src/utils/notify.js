// Desktop notifications and a short sound for messages that arrive while the
// tab is in the background. Permission is asked once, right after the user's
// first send (a moment when they plainly use the chat), never on load; after
// that, the top bar offers to ask again (a dismissed prompt) or says where to
// allow them (declined).

import { otherOf } from '@souk/client';

const ASKED_KEY = 'souk.notifications.asked';

/**
 * The messages from someone else that became a conversation's last message
 * between two states of the conversation map, sent at or after `sinceMs`
 * (older conversations that arrive with a list page are not news), not read
 * yet and not in `seen` (ids already announced). Oldest first.
 */
export function newIncoming(prev, next, meId, sinceMs, seen = new Set()) {
  const found = [];
  for (const [conversationId, conv] of Object.entries(next ?? {})) {
    const m = conv?.lastMessage;
    if (!m?.id || m.id === prev?.[conversationId]?.lastMessage?.id) continue;
    if (!m.sender?.id || m.sender.id === meId || m.readAt || seen.has(m.id)) continue;
    const at = Date.parse(m.sentAt);
    if (!Number.isFinite(at) || at < sinceMs) continue;
    found.push({ conversationId, message: m });
  }
  return found.sort((a, b) => Date.parse(a.message.sentAt) - Date.parse(b.message.sentAt));
}

/** Title, body and tag (one notification per conversation) of a new message. */
export function notificationOf(conversation, message, role) {
  const other = otherOf(conversation, role);
  const title = message.sender?.name ?? other?.name ?? other?.id ?? 'New message';
  const product = message.kind === 'product' && message.product ? message.product.name : null;
  let body = message.text ?? '';
  if (product) body = body ? `${product} · ${body}` : `Shared ${product}`;
  if (body.length > 140) body = `${body.slice(0, 139)}…`;
  return { title, body, tag: `souk-${conversation?.id ?? message.conversationId ?? ''}` };
}

/** Whether to ask for permission now: the API exists, nobody decided yet and we never asked. */
export function shouldAsk(permission, alreadyAsked) {
  return permission === 'default' && !alreadyAsked;
}

/**
 * What the top bar offers once the page asked for permission before:
 * 'ask' when nobody decided (the prompt was dismissed), so that a click asks
 * again; 'blocked' when notifications were declined, which only the browser's
 * site settings can undo; null otherwise (not asked yet: the first send asks;
 * allowed; or no notifications in this browser).
 */
export function notificationControl(permission, alreadyAsked) {
  if (!alreadyAsked) return null;
  if (permission === 'default') return 'ask';
  if (permission === 'denied') return 'blocked';
  return null;
}

/** The event the page gets when a permission prompt it opened was answered or dismissed. */
export const PERMISSION_ANSWERED = 'souk:notification-permission';

function storageOf(win) {
  try {
    return win.localStorage;
  } catch {
    return null;
  }
}

/**
 * The browser side: `prime()` from a user action (the first send) asks for
 * permission once and readies the sound; `announce()` shows a notification
 * (when allowed) and plays the sound, for a tab in the background.
 */
export function createNotifier(win = window) {
  let audio = null;
  let askedHere = false; // where storage is refused (private modes), ask once per page
  const storage = storageOf(win);
  const Notice = win.Notification;
  const askedBefore = () => askedHere || storage?.getItem(ASKED_KEY) === '1';

  const prime = () => {
    if (!audio && win.AudioContext) {
      try {
        audio = new win.AudioContext();
      } catch {
        audio = null;
      }
    }
    if (audio?.state === 'suspended') audio.resume().catch(() => {});
    if (!Notice || !shouldAsk(Notice.permission, askedBefore())) return;
    askedHere = true;
    try {
      storage?.setItem(ASKED_KEY, '1');
    } catch {
      // full or refused storage: asked once for this page
    }
    ask();
  };

  // Opens the browser's prompt (only from a user action), and tells the page
  // once it was answered or dismissed.
  const ask = () => {
    try {
      const asked = Notice.requestPermission();
      asked
        ?.then?.(() => win.dispatchEvent(new win.Event(PERMISSION_ANSWERED)))
        ?.catch?.(() => {});
    } catch {
      // very old browsers take a callback only: no notifications there
    }
  };

  /** See `notificationControl`. */
  const control = () => notificationControl(Notice?.permission, askedBefore());

  const beep = () => {
    if (!audio || audio.state !== 'running') return;
    const t = audio.currentTime;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = 'sine';
    osc.frequency.setValueAtTime(880, t);
    osc.frequency.setValueAtTime(1320, t + 0.09);
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.12, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.22);
    osc.connect(gain).connect(audio.destination);
    osc.start(t);
    osc.stop(t + 0.24);
  };

  const announce = ({ title, body, tag }, onClick) => {
    beep();
    if (!Notice || Notice.permission !== 'granted') return null;
    try {
      const n = new Notice(title, { body, tag, renotify: true });
      n.onclick = () => {
        win.focus();
        onClick?.();
        n.close();
      };
      return n;
    } catch {
      return null; // e.g. Android Chrome only allows them from a service worker
    }
  };

  return { prime, announce, beep, ask: () => Notice && ask(), control };
}
