import type { AppTemplate } from './template.js';
import { wardenImage } from '../images/catalog.js';

const LOG = '/tmp/warden-dev-server.log';

/**
 * react-vite: Vite + React + TypeScript + Tailwind in /workspace (image warden-react-vite), dev server on
 * 3001. Seed 3's caps by default: 512 MB, half a CPU. Network 'allowlist' with the npm preset, so
 * `npm install some-package` reaches the registry through the egress proxy and nothing else; the
 * preview is published through the sandbox's forwarder. /workspace is a volume: kept when the sandbox
 * is stopped (idle), so a conversation resumes with its files.
 */
export const REACT_VITE: AppTemplate = {
  name: 'react-vite',
  description: 'Vite + React + TypeScript + Tailwind app with a live dev server on port 3001.',
  imageName: 'react-vite',
  port: 3001,
  defaults: {
    image: wardenImage('react-vite'),
    workdir: '/workspace',
    workspaceVolume: true,
    network: 'allowlist',
    egress: { presets: ['npm'] },
    resources: { memory: '512m', cpus: 0.5, pids: 256 },
  },
  // one dev server per sandbox, whoever asks: the start takes an flock the server then holds for its
  // whole life (fd 9 is inherited), so a second start while one runs or starts is a no-op; the flags
  // repeat vite.config.ts so an uploaded config cannot move the server off the preview port
  start: ['/bin/sh', '-c', `exec 9>>"$WARDEN_LOCK_FILE"; flock -n 9 || exit 0; echo $$ > "$WARDEN_PID_FILE"; exec node_modules/.bin/vite --host 0.0.0.0 --port 3001 --strictPort >> ${LOG} 2>&1`],
  logFile: LOG,
  readiness: { path: '/', timeoutMs: 60_000 },
};
