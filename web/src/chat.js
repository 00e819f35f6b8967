// The web app's one chat store, from the client kit (clients/js, @souk/client).

import { createChatStore } from '@souk/client';

export const useChatStore = createChatStore({
  // A handle on the Socket.IO client for debugging in the browser's console.
  onSocket(chatSocket) {
    if (chatSocket) window.__soukSocket = chatSocket.socket;
    else delete window.__soukSocket;
  },
});
