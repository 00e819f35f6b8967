import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The built app lands in web/dist, which `souk serve --web-dir web/dist` serves
// at `/` (with the SPA fallback for /chat and /vendor/chat).
// In development, `SOUK_API=http://127.0.0.1:8080 npm run dev` proxies the REST
// routes to a running souk; the socket goes straight to the address that
// GET /api/config names.
const api = process.env.SOUK_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  // The client kit (@souk/client) is linked from ../clients/js: its imports of
  // these packages resolve to this app's copies, so that the bundle holds one
  // React, one Zustand and one socket.io-client, and the build does not need
  // clients/js/node_modules.
  resolve: { dedupe: ['react', 'react-dom', 'zustand', 'socket.io-client'] },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  server: {
    proxy: {
      '/api': { target: api, changeOrigin: false },
      '/healthz': { target: api },
    },
  },
});
