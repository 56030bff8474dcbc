import { fileURLToPath } from 'node:url';

/** One of Warden's own images, built from a Dockerfile under docker/. */
export interface CatalogImage {
  /** Short name used on the command line. */
  name: string;
  /** Image reference it is tagged as. */
  ref: string;
  /** Build context directory (holds the Dockerfile). */
  context: string;
  /** Another catalog image it builds FROM (built first); undefined: built on the base image. */
  from?: string;
  description: string;
  /** Files added to the build context: each `from` (a directory of this package) goes to `to`. */
  extra?: Array<{ from: string; to: string; include: RegExp }>;
}

/** The repository's docker/ folder, from src/ (tsx) or dist/ alike. */
export const DOCKER_DIR = fileURLToPath(new URL('../../docker/', import.meta.url));
/** The repository's guest/ folder (Warden's code for inside sandboxes), from src/ or dist/ alike. */
export const GUEST_SRC_DIR = fileURLToPath(new URL('../../guest/', import.meta.url));
/** This package's compiled code (dist/), from src/ (tsx) or dist/ alike. */
export const DIST_DIR = fileURLToPath(new URL('../../dist/', import.meta.url));

/** Where Debian keeps the host's CA bundle (ca-certificates.crt). */
export const HOST_CA_DIR = process.env.WARDEN_CA_DIR ?? '/etc/ssl/certs';

/**
 * The tag of Warden's own images (`warden-sandbox:<tag>`, ...): `WARDEN_IMAGE_TAG`, default `latest`.
 * Lets one engine hold several Warden versions side by side (a pinned deployment, a branch under test).
 */
export const IMAGE_TAG = process.env.WARDEN_IMAGE_TAG || 'latest';

/** The reference of one of Warden's images by its short name (`sandbox` -> `warden-sandbox:latest`). */
export function wardenImage(name: 'sandbox' | 'egress' | 'agents' | 'react-vite' | 'guest'): string {
  return `warden-${name}:${IMAGE_TAG}`;
}

export const OFFLINE_BASE = 'warden-base:bookworm';
export const PUBLIC_BASE = 'debian:bookworm-slim';

export const CATALOG: CatalogImage[] = [
  {
    name: 'guest',
    ref: wardenImage('guest'),
    context: GUEST_SRC_DIR,
    description: "Warden's guard (a static binary: PID 1, exec holders, tree kill, the per-owner reaper) and its shell helpers, FROM scratch; mounted read-only at /.warden in every sandbox.",
  },
  {
    name: 'sandbox',
    ref: wardenImage('sandbox'),
    context: `${DOCKER_DIR}sandbox`,
    description: 'Minimal Debian with bash, coreutils, git, curl, procps and the non-root user agent (uid 1000).',
  },
  {
    name: 'egress',
    ref: wardenImage('egress'),
    context: `${DOCKER_DIR}egress`,
    description: "The egress proxy next to allowlisted sandboxes (Debian's nodejs + Warden's src/egress).",
    extra: [{ from: `${DIST_DIR}egress`, to: 'app', include: /^(?!.*\.test\.js$).*\.js$/ }],
  },
  {
    name: 'agents',
    ref: wardenImage('agents'),
    context: `${DOCKER_DIR}agents`,
    from: 'sandbox',
    description: 'warden-sandbox plus Node.js 22 and the pinned agent CLIs (claude, gemini, codex), ripgrep and build tools.',
    // the host's CA bundle, for HTTPS to the npm registry during the build only
    extra: [{ from: HOST_CA_DIR, to: 'certs', include: /^ca-certificates\.crt$/ }],
  },
  {
    name: 'react-vite',
    ref: wardenImage('react-vite'),
    context: `${DOCKER_DIR}templates/react-vite`,
    from: 'sandbox',
    description: 'App-builder template: Node 22, a Vite + React + TypeScript + Tailwind app in /workspace with its dependencies installed; dev server on 3001.',
    // the host's CA bundle: HTTPS to the npm registry from the build, and from sandboxes (npm install)
    extra: [{ from: HOST_CA_DIR, to: 'certs', include: /^ca-certificates\.crt$/ }],
  },
];

export function catalogImage(name: string): CatalogImage | undefined {
  return CATALOG.find((i) => i.name === name || i.ref === name || i.ref.split(':')[0] === name);
}
