import { z } from 'zod';
import { ArgvSchema, EnvSchema, SignalSchema } from '../policy/limits.js';
import { SandboxRefSchema } from '../policy/refs.js';
import { SandboxSpecSchema } from '../policy/spec.js';

/** `:id` in every sandbox route: a sandbox id, name or container id (one schema with the SDK and the CLI). */
export const SandboxParams = z.object({ id: SandboxRefSchema });
export const ExecParams = z.object({ execId: z.string().regex(/^x[0-9a-f]{12}$/, 'an exec id looks like x0123456789ab').describe('Exec id from the exec start event') });

/** Create/ensure body: a sandbox spec plus the project it belongs to. */
export const CreateBody = SandboxSpecSchema.extend({
  project: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.:-]{0,127}$/, 'use letters, digits, _ . : - (max 128)')
    .optional()
    .describe('Project the sandbox belongs to (label warden.project); list filter `project`.'),
});

/** Ensure body: a create body whose key is required (it finds the sandbox again). */
export const EnsureBody = CreateBody.safeExtend({ key: z.string().min(1).max(200).regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters').describe('Project or session key: the sandbox with this key is reused.') });

const labelFilter = z.string().regex(/^[^=]+=/, 'a label filter is key=value, e.g. label=team=a');
const oneOrMany = z.union([labelFilter, z.array(labelFilter)]).optional();

export const ListQuery = z
  .object({
    state: z.enum(['created', 'running', 'paused', 'restarting', 'exited', 'dead', 'removing', 'vanished', 'removed']).optional().describe('Only sandboxes in this state.'),
    owner: z.string().optional(),
    project: z.string().max(128).optional(),
    key: z.string().max(200).optional(),
    label: oneOrMany.describe('k=v, repeatable: only sandboxes carrying every such label.'),
    includeVanished: z.enum(['true', 'false']).optional().describe('Also list sandboxes whose container is gone (default false).'),
  })
  .strict();

export const StopBody = z.object({ timeoutMs: z.number().int().min(0).max(600_000).optional().describe('Grace period before SIGKILL (default 30 s).') }).strict().default({});
export const KillBody = z.object({ signal: SignalSchema.default('SIGKILL') }).strict().default({ signal: 'SIGKILL' });
export const RemoveQuery = z.object({ force: z.enum(['true', 'false']).optional().describe('Kill instead of stopping gracefully first.') }).strict();

export const ExecBody = z
  .object({
    cmd: ArgvSchema.describe("argv, e.g. ['bash', '-lc', 'npm test'] (never one joined string)"),
    cwd: z.string().startsWith('/').max(4096).optional(),
    env: EnvSchema.optional(),
    user: z.string().regex(/^\d+(:\d+)?$/).optional(),
    timeoutMs: z.number().int().positive().max(24 * 3600_000).optional().describe('Kill the whole process tree after this long.'),
    stdin: z.string().optional().describe('Buffered exec: data written to stdin, which is then closed.'),
    stdinEncoding: z.enum(['utf8', 'base64']).default('utf8'),
  })
  .strict();

/** How streamed output chunks are carried: UTF-8 text (default, for people and dashboards) or the exact bytes in base64. */
export const OutputEncoding = z.enum(['utf8', 'base64']).default('utf8').describe("'base64': every stdout/stderr chunk is the exact bytes the command wrote (binary output); 'utf8': text.");

export const StreamExecBody = ExecBody.omit({ stdin: true, stdinEncoding: true })
  .extend({ stdin: z.boolean().default(false).describe('Keep stdin open: write with POST /api/v1/execs/{execId}/stdin.'), encoding: OutputEncoding })
  .strict();

export const SignalBody = z.object({ signal: SignalSchema.default('SIGTERM') }).strict();
export const StdinBody = z.object({ data: z.string().default(''), encoding: z.enum(['utf8', 'base64']).default('utf8'), eof: z.boolean().default(false) }).strict();

export const FilesBody = z
  .object({
    files: z
      .array(
        z
          .object({
            path: z.string().min(1).max(4096).describe('Absolute, or relative to /workspace.'),
            content: z.string().optional().describe('UTF-8 text content.'),
            base64: z.string().optional().describe('Base64 content (binary files, or edits from an app builder).'),
            mode: z.number().int().min(0).max(0o7777).optional(),
          })
          .strict()
          .refine((f) => (f.content === undefined) !== (f.base64 === undefined), 'give exactly one of content or base64')
          // said in the schema too (the refinement is invisible to OpenAPI): exactly one of the two
          .meta({ oneOf: [{ required: ['content'], not: { required: ['base64'] } }, { required: ['base64'], not: { required: ['content'] } }] }),
      )
      .min(1)
      .max(1000, 'at most 1000 files per request; send a bigger tree as a tar to PUT .../archive'),
  })
  .strict();

export const FileQuery = z.object({ path: z.string().min(1), encoding: z.enum(['utf8', 'base64', 'raw']).default('utf8') }).strict();
export const ArchiveQuery = z.object({ path: z.string().min(1).default('/workspace') }).strict();
export const PanicBody = z.object({ labels: z.record(z.string(), z.string()).optional().describe('Only Warden objects with these labels (default: all).') }).strict().default({});
/**
 * A whole number in a query string: digits only. `z.coerce.number()` reads '' and ' ' as 0, '0x10' as 16
 * and '1e2' as 100, so `?tail=` was taken as "the last 0 lines" (the fuzzer found it): here those stay
 * strings and are refused with the field named. OpenAPI still says `integer` with its bounds.
 */
export const queryInt = (min: number, max: number) =>
  z
    .preprocess((v) => (typeof v === 'string' && /^[0-9]{1,15}$/.test(v) ? Number(v) : v), z.number({ error: `a whole number written in digits, ${min} to ${max}` }).int().min(min).max(max))
    .meta({ type: 'integer', minimum: min, maximum: max });

// prefault, not default: OpenAPI's input view drops a preprocessed schema's default but shows a prefault
export const LimitQuery = z.object({ limit: queryInt(1, 10_000).prefault(100) }).strict();
