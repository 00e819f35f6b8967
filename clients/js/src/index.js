// @souk/client: souk's wire contract (docs/api.md) for JavaScript front ends.
// Types: types/index.d.ts. React helpers: '@souk/client/react'.

export { ApiError, createChatApi, createOperatorApi, errorFrom, fetchAnalytics, fetchConfig, fetchDemoToken, fetchDemoUsers, request, socketUrlOf } from './rest.js';
export { ChatSocket } from './socket.js';
export {
  applyRead,
  contiguousEnd,
  createChatStore,
  mergeMessages,
  nextClientMessageId,
  otherOf,
  visibleMessages,
} from './store.js';
export { TokenError, tokenPayload, userFromToken } from './token.js';
