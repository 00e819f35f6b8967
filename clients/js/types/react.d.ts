// Types of @souk/client/react.

import type { ChatStore, ConnectionState, Thread, User, Uuid } from './index.js';

/**
 * Runs the chat session of `token` while the component is mounted; a new
 * token of the same user goes to the running session. Returns the connection state.
 */
export declare function useChatSession(
  store: ChatStore,
  options: { token: string | null | undefined; socketUrl: string | null | undefined; user?: User },
): ConnectionState;

/** Opens the conversation while mounted (history, catch-up, reads); its thread. */
export declare function useConversation(store: ChatStore, conversationId: Uuid | null | undefined): Thread | undefined;
