import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Warden's react-vite template: the dev server listens on 0.0.0.0:3001 inside the sandbox; the browser
// reaches it through Warden's preview forwarder on a 127.0.0.1 port the engine picks.
export default defineConfig({
  plugins: [react()],
  server: {
    host: '0.0.0.0',
    port: 3001,
    strictPort: true,
    // Vite's DNS-rebinding guard stays on: 127.0.0.1 and localhost always work; an embedding app that
    // serves the preview under its own host name lists it in WARDEN_ALLOWED_HOSTS (comma-separated)
    ...(process.env.WARDEN_ALLOWED_HOSTS ? { allowedHosts: process.env.WARDEN_ALLOWED_HOSTS.split(',') } : {}),
    // polling by default: files uploaded through the engine's archive API replace the file (unlink + create);
    // under load inotify's pair can arrive apart and Vite then keeps serving the old module. Polling sees a
    // changed mtime either way (node_modules is not watched). WARDEN_WATCH_POLLING=0 switches to inotify.
    watch: process.env.WARDEN_WATCH_POLLING === '0' ? {} : { usePolling: true, interval: 250 },
  },
  preview: { host: '0.0.0.0', port: 3001, strictPort: true },
});
