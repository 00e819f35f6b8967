// Where the replay console reads a conversation from: a participant's own
// routes ({side}/:id/events, /state, /transcript) or, for an operator, the
// operator routes with the reason given (each recorded in the conversation's
// log, where its participants see it). Both answer the same shapes.

import { createChatApi, createOperatorApi } from '@souk/client';

const PAGE = 1000;

/** `{ events(from), state(at), transcript(format) }` for this session. */
export function replaySource(session, conversationId, reason) {
  if (session.user.role === 'operator') {
    const api = createOperatorApi(session.token);
    return {
      operator: true,
      events: (from) => api.events(conversationId, reason, { from, limit: PAGE }),
      state: (at) => api.state(conversationId, at, reason),
      transcript: (format) => api.transcript(conversationId, format, reason, { raw: true }),
    };
  }
  const api = createChatApi(session.token, session.user.role);
  return {
    operator: false,
    events: (from) => api.events(conversationId, { from, limit: PAGE }),
    state: (at) => api.state(conversationId, at),
    transcript: (format) => api.transcript(conversationId, format, { raw: true }),
  };
}
