// React helpers over a store of createChatStore (itself a hook:
// `useChat((s) => s.totalUnread)`).

import { useEffect, useMemo, useRef } from 'react';
import { userFromToken } from './token.js';

/**
 * Runs the chat session of `token` while the component is mounted: connects
 * (socket and REST), stops on unmount or when the user changes; a new token of
 * the same user is handed to the running session (no reconnect). Returns the
 * connection state.
 */
export function useChatSession(store, { token, socketUrl, user } = {}) {
  const me = useMemo(() => {
    if (!token) return null;
    if (user) return user;
    try {
      return userFromToken(token);
    } catch {
      return null;
    }
  }, [token, user]);
  const key = me && socketUrl ? `${me.role}\n${me.id}\n${socketUrl}` : null;
  const latest = useRef({ token, me });
  latest.current = { token, me };

  useEffect(() => {
    if (!key) return undefined;
    store.getState().start({ token: latest.current.token, user: latest.current.me }, null, socketUrl);
    return () => store.getState().stop();
  }, [store, key]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    if (token) store.getState().setToken(token);
  }, [store, token]);

  return store((s) => s.connection);
}

/**
 * Opens a conversation while the component is mounted (history, room joined
 * with catch-up, read marking) and returns its thread.
 */
export function useConversation(store, conversationId) {
  useEffect(() => {
    if (!conversationId) return undefined;
    store.getState().openConversation(conversationId);
    return () => {
      if (store.getState().activeId === conversationId) store.getState().closeConversation();
    };
  }, [store, conversationId]);
  return store((s) => (conversationId ? s.threads[conversationId] : undefined));
}
