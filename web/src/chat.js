// The web app's one chat store, from the client kit (clients/js, @souk/client).

import { createChatStore } from '@souk/client';
import { create } from 'zustand';

export const useChatStore = createChatStore({
  // A handle on the Socket.IO client for debugging in the browser's console.
  onSocket(chatSocket) {
    if (chatSocket) window.__soukSocket = chatSocket.socket;
    else delete window.__soukSocket;
  },
});

/**
 * A message to show when its conversation opens: a search result's match
 * (`{ id, seq }`). The conversation list sets it, the chat window loads
 * older pages until that seq is there, scrolls to it, marks it and clears it.
 */
export const useJumpStore = create((set) => ({
  target: null,
  jumpTo: (id, seq) => set({ target: { id, seq } }),
  clear: () => set({ target: null }),
}));

/**
 * The product card attached to a conversation's composer, by conversation
 * id: set when the customer opens an existing conversation from a product it
 * is not about ("Chat with vendor"), sent with the next message as a product
 * message, or dismissed.
 */
export const useInquiryStore = create((set) => ({
  attached: {},
  attach: (id, product) => set((s) => ({ attached: { ...s.attached, [id]: product } })),
  detach: (id) =>
    set((s) => {
      if (!(id in s.attached)) return s;
      const { [id]: _gone, ...rest } = s.attached;
      return { attached: rest };
    }),
}));
