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
    // files uploaded through the engine's archive API are seen by inotify; polling is the fallback
    watch: process.env.WARDEN_WATCH_POLLING === '1' ? { usePolling: true, interval: 250 } : {},
  },
  preview: { host: '0.0.0.0', port: 3001, strictPort: true },
});
