import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { buildRules } from '../egress/policy.js';
import { parseBytes, parseDuration } from '../util/units.js';
import { wardenImage } from '../images/catalog.js';
import { NO_CONTROL_RE } from './refs.js';
import { EnvSchema } from './limits.js';

/** The image sandboxes use when a spec names none. Built by `warden images build`. */
export const DEFAULT_IMAGE = wardenImage('sandbox');

const sizeString = (what: string, example: string) =>
  z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      const n = parseBytes(v);
      if (n === undefined) {
        ctx.addIssue({ code: 'custom', message: `'${v}' is not a ${what}; use a number with a unit, e.g. ${example}` });
        return z.NEVER;
      }
      return n;
    });

/**
 * A duration as people write it ('30s', '5m', '1h30m', '250ms'), parsed to milliseconds. A bare number
 * means seconds (`60` = one minute), as in docker and coreutils; fields in milliseconds end in `Ms`.
 */
export const DurationSchema = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = parseDuration(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: `'${v}' is not a duration; use e.g. 30s, 5m, 2h, 250ms (a bare number is seconds; at most a year)` });
    return z.NEVER;
  }
  return n;
});

const containerPath = z
  .string()
  .refine((p) => p.startsWith('/'), 'must be an absolute path inside the sandbox, e.g. /data')
  .refine((p) => p !== '/' && !/^\/(proc|sys|dev)(\/|$)/.test(p), 'must not be /, /proc, /sys or /dev');

export const MountSchema = z
  .object({
    source: z.string().min(1).describe('Host directory or file to mount.'),
    target: containerPath.describe('Where it appears inside the sandbox.'),
    readOnly: z.boolean().default(true).describe('Mounted read-only unless set to false (default true).'),
  })
  .strict();

export const PortSchema = z.union([
  z.number().int().min(1).max(65535),
  z
    .object({
      container: z.number().int().min(1).max(65535).describe('Port inside the sandbox.'),
      host: z.number().int().min(1).max(65535).optional().describe('Host port; a free one when omitted.'),
      hostIp: z.string().default('127.0.0.1').describe('Host address to publish on (default 127.0.0.1, never 0.0.0.0 unless given).'),
    })
    .strict(),
]);

export const ResourcesSchema = z
  .object({
    memory: sizeString('memory size', '512m or 2g')
      .refine((n) => n >= 6 * 1024 ** 2, 'must be at least 6m (the engine refuses less)')
      .default(2 * 1024 ** 3)
      .describe('Memory cap; swap is capped to the same (no swap). At least 6m; at most what the engine has. Default 2g.'),
    cpus: z.number().min(0.1, 'must be at least 0.1 (less starves every command into timeouts)').max(256).default(2).describe('CPU quota in cores, from 0.1 to what the engine has. Default 2.'),
    pids: z.number().int().min(16).max(1_000_000).default(512).describe('Maximum number of processes and threads. Default 512.'),
    tmpSize: sizeString('size', '512m').default(512 * 1024 ** 2).describe('Size cap of the /tmp tmpfs. Default 512m.'),
    homeSize: sizeString('size', '256m').default(256 * 1024 ** 2).describe('Size cap of the home tmpfs. Default 256m.'),
    disk: sizeString('size', '10g')
      .optional()
      .describe('Workspace disk quota. A host workspace is measured inside the sandbox every 2 s and the sandbox stops when over; without a host workspace, /workspace is a tmpfs of this size. Default: none (tmpSize for a tmpfs workspace).'),
  })
  .strict();

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
/**
 * An image reference as the engine parses it (distribution's reference grammar): an optional registry
 * (a first component with a `.` or a port, or `localhost`), lowercase path components joined by `.`,
 * `_`, `__` or dashes, an optional tag and digest. Anything else the engine refuses only after Warden
 * has begun making things, so it is refused here.
 */
const REF_ALNUM = '[a-z0-9]+';
const REF_PATH = `${REF_ALNUM}(?:(?:[._]|__|-+)${REF_ALNUM})*`;
const REF_DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const REF_DOMAIN = `(?:localhost(?::[0-9]+)?|${REF_DOMAIN_PART}(?:\\.${REF_DOMAIN_PART})+(?::[0-9]+)?|${REF_DOMAIN_PART}:[0-9]+|\\[[0-9a-fA-F:]+\\](?::[0-9]+)?)`;
const REF_TAG = '[\\w][\\w.-]{0,127}';
const REF_DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
export const IMAGE_RE = new RegExp(`^(?=.{1,255}(?:[:@]|$))(?:${REF_DOMAIN}/)?${REF_PATH}(?:/${REF_PATH})*(?::${REF_TAG})?(?:@${REF_DIGEST})?$`);

export const SandboxSpecSchema = z
  .object({
    image: z
      .string()
      .regex(IMAGE_RE, 'must be an image reference such as warden-sandbox:latest or registry.example.com/team/app:1.2')
      .default(DEFAULT_IMAGE)
      .describe(`Image to run. Default ${DEFAULT_IMAGE}.`),
    name: z
      .string()
      .regex(NAME_RE, 'use 1-63 letters, digits, _ . - starting with a letter or digit')
      .optional()
      .describe('Human name; the container is named warden-<name>. Default: derived from key or id.'),
    key: z.string().min(1).max(200).regex(NO_CONTROL_RE, 'must not contain control characters').optional().describe('Project or session key; ensure() reuses the sandbox with this key.'),
    workspace: z.string().min(1).optional().describe('Host directory mounted read-write at /workspace.'),
    configDir: z.string().min(1).optional().describe('Host directory mounted read-only at /app/config.'),
    mounts: z.array(MountSchema).default([]).describe('Extra mounts, read-only unless readOnly: false.'),
    env: EnvSchema
      .default({})
      .describe('Environment of every command in the sandbox.'),
    labels: z.record(z.string(), z.string()).default({}).describe('Extra container labels (keys starting with warden. are reserved).'),
    user: z
      .string()
      .regex(/^\d+(:\d+)?$/, 'use numeric uid or uid:gid, e.g. 1000:1000')
      .optional()
      .describe('uid[:gid] the workload runs as. Default: the owner of the workspace directory, or 1000:1000 when that is root. uid 0 needs allowRoot.'),
    allowRoot: z
      .boolean()
      .optional()
      .describe("Let the workload run as uid 0 (user '0' or an exec's user). Weakens the guarantees: a root workload shares the guard's uid and capabilities, so it can stop the max runtime, the dead-man switch, the disk quota and exec timeouts from inside. Default: false (refused with ROOT_REFUSED)."),
    workdir: containerPath.default('/workspace').describe('Working directory of commands. Default /workspace.'),
    resources: ResourcesSchema.default(ResourcesSchema.parse({})).describe('CPU, memory, pids and tmpfs caps.'),
    network: z
      .enum(['none', 'allowlist', 'open'])
      .default('none')
      .describe("'none' (default): no network at all. 'allowlist': a private internal network whose only way out is Warden's egress proxy, allowing only egress.allow/presets. 'open': ordinary bridge network, only when asked for."),
    egress: z
      .object({
        allow: z.array(z.string()).default([]).describe("Host patterns the proxy allows: 'api.example.com', '*.github.com:443', '10.0.0.5:8080' (default ports 80 and 443)."),
        presets: z.array(z.string()).default([]).describe('Named allowlists: claude, gemini, codex, github, npm, pypi.'),
        addHosts: z
          .record(z.string(), z.string().regex(/^(host-gateway|\d{1,3}(\.\d{1,3}){3})$/, 'use an IPv4 address or host-gateway'))
          .default({})
          .describe('How the proxy resolves names (as docker run --add-host); host.docker.internal always means the engine host.'),
        credentials: z
          .array(z.enum(['anthropic', 'openai', 'gemini', 'github']))
          .default([])
          .describe('Keyless credentials: the proxy injects the real key for these providers; the sandbox sees a placeholder and a route URL.'),
      })
      .strict()
      .default({ allow: [], presets: [], addHosts: {}, credentials: [] })
      .describe("Egress policy for network 'allowlist'."),
    ports: z.array(PortSchema).default([]).describe("Container ports to publish on 127.0.0.1 (network 'open': published by the sandbox; 'allowlist': by its preview forwarder)."),
    lifetime: z.enum(['ephemeral', 'persistent']).default('ephemeral').describe('ephemeral sandboxes are meant to die with their owner; persistent ones are re-adopted.'),
    maxRuntime: DurationSchema.optional().describe('The sandbox stops itself after this long, even if Warden is gone.'),
    runtime: z.enum(['runc', 'runsc']).optional().describe("OCI runtime; 'runsc' (gVisor) when the engine has it registered."),
    template: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a template name such as react-vite')
      .optional()
      .describe("An app template (e.g. 'react-vite'): its image, port, caps and network become the defaults of this spec, and create() returns once its dev server answers. Default: none."),
    workspaceVolume: z
      .boolean()
      .optional()
      .describe("Keep /workspace in an engine volume of its own, seeded from the image's /workspace, kept across stop/start and refresh, removed with the sandbox. Default: false (a tmpfs, or the host workspace)."),
  })
  .strict()
  .superRefine((spec, ctx) => {
    for (const k of Object.keys(spec.labels)) {
      if (k.startsWith('warden.')) ctx.addIssue({ code: 'custom', path: ['labels', k], message: 'label keys starting with warden. are reserved for Warden' });
    }
    if (spec.ports.length > 0 && spec.network === 'none') {
      ctx.addIssue({ code: 'custom', path: ['ports'], message: "publishing ports needs network: 'open' or 'allowlist' (reached through a preview forwarder while egress stays confined); a 'none' sandbox has no network" });
    }
    if (spec.network === 'allowlist') {
      for (const [i, p] of spec.ports.entries()) {
        const port = typeof p === 'number' ? p : p.container;
        if (port < 1024) ctx.addIssue({ code: 'custom', path: ['ports', i], message: `port ${port}: an allowlist sandbox publishes ports >= 1024 only (its forwarder runs without privileges); let the server listen on e.g. 3000` });
      }
    }
    if (spec.workspaceVolume && spec.workspace) {
      ctx.addIssue({ code: 'custom', path: ['workspaceVolume'], message: 'a host workspace and a workspace volume exclude each other; drop one' });
    }
    try {
      buildRules(spec.egress.presets, spec.egress.allow);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['egress'], message: (err as Error).message });
    }
    if (spec.network !== 'allowlist' && (spec.egress.allow.length > 0 || spec.egress.presets.length > 0 || spec.egress.credentials.length > 0 || Object.keys(spec.egress.addHosts).length > 0)) {
      ctx.addIssue({ code: 'custom', path: ['egress'], message: `an egress allowlist needs network: 'allowlist' (it is '${spec.network}')` });
    }
    const targets = new Set<string>(['/workspace', '/app/config', '/tmp']);
    for (const [i, m] of spec.mounts.entries()) {
      if (targets.has(m.target)) ctx.addIssue({ code: 'custom', path: ['mounts', i, 'target'], message: `${m.target} is already mounted; pick another target` });
      targets.add(m.target);
    }
  });

/** What callers pass (units as strings allowed). */
export type SandboxSpecInput = z.input<typeof SandboxSpecSchema>;
/** A validated spec with defaults applied and units in bytes/ms. */
export type SandboxSpec = z.output<typeof SandboxSpecSchema>;

/** Validate a spec; throws a {@link ValidationError} naming every bad field and how to fix it. */
export function parseSpec(input: unknown): SandboxSpec {
  const r = SandboxSpecSchema.safeParse(input ?? {});
  if (r.success) return r.data;
  throw zodToValidationError('invalid sandbox spec', r.error);
}

export function zodToValidationError(what: string, err: z.ZodError): ValidationError {
  const issues = err.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
  return new ValidationError(`${what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
}
