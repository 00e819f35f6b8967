// Watches the chat store: the user's first send asks for notification
// permission (and readies the sound); a message from someone else that
// arrives while the tab is in the background shows a desktop notification
// and plays a short sound. Clicking the notification opens its conversation.

import { useEffect, useRef } from 'react';
import { useChatStore } from '../chat.js';
import { createNotifier, newIncoming, notificationOf } from './notify.js';

// Messages sent up to this long before the page loaded still count as new
// (the browser's clock and the server's need not agree to the second).
const CLOCK_SLACK_MS = 5 * 60 * 1000;

function pendingOf(state) {
  return state.threads[state.activeId]?.pending?.length ?? 0;
}

export default function useBackgroundNotifications(open) {
  const openRef = useRef(open);
  openRef.current = open;

  useEffect(() => {
    const notifier = createNotifier(window);
    const since = Date.now() - CLOCK_SLACK_MS;
    const seen = new Set();
    return useChatStore.subscribe((s, prev) => {
      // A new pending message in the open conversation is the user sending:
      // this runs inside their key press or click, when a browser lets a page ask.
      if (s.activeId && s.activeId === prev.activeId && pendingOf(s) > pendingOf(prev)) notifier.prime();

      // The list's first page holds no news; later changes may.
      if (s.conversations === prev.conversations || prev.listStatus !== 'ready' || !s.me) return;
      const fresh = newIncoming(prev.conversations, s.conversations, s.me.id, since, seen);
      if (fresh.length === 0) return;
      for (const { message } of fresh) seen.add(message.id);
      if (document.visibilityState !== 'hidden') return;
      for (const { conversationId, message } of fresh) {
        notifier.announce(notificationOf(s.conversations[conversationId], message, s.me.role), () =>
          openRef.current(conversationId),
        );
      }
    });
  }, []);
}
