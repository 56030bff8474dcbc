import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WardenError } from '../../errors.js';
import { errorBody } from '../http-errors.js';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Readable } from 'node:stream';
import { fromBase64, type FileEntry } from '../../sandbox/files.js';
import type { ServerContext } from '../context.js';
import { z } from 'zod';
import { ArchiveQuery, FileQuery, FilesBody, SandboxParams } from '../schemas.js';

const ListDirQuery = z.object({ path: z.string().min(1).max(4096).default('/workspace').describe('Directory inside the sandbox (relative paths are under /workspace)') }).strict();
import { actorOf } from './sandboxes.js';
import { scopedSandbox } from '../scope.js';

/** JSON uploads carry base64, so they get a larger limit than other routes; big trees go as tar. */
export const FILES_BODY_LIMIT = 64 * 1024 * 1024;
export const ARCHIVE_BODY_LIMIT = 1024 * 1024 * 1024;

/** The archive upload takes tar bytes only; anything else is refused before the body is read. */
async function tarOnly(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-tar') {
    await reply.code(415).send(errorBody('UNSUPPORTED_MEDIA_TYPE', `PUT .../archive takes a tar stream with content-type application/x-tar (got '${type || 'none'}'); for JSON uploads use PUT .../files`));
  }
}

/** Files: JSON upload (text or base64), single-file download, tar in and out. Confined to the sandbox's roots. */
export function fileRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['files'];

  r.put('/sandboxes/:id/files', { bodyLimit: FILES_BODY_LIMIT, schema: { tags, summary: 'Write files (text content or base64); paths relative to /workspace', params: SandboxParams, body: FilesBody } }, async (req) => {
    const sb = await scopedSandbox(ctx, req, req.params.id);
    const entries: FileEntry[] = req.body.files.map((f) => (f.base64 !== undefined ? fromBase64(f.path, f.base64, f.mode) : { path: f.path, content: f.content ?? '', ...(f.mode !== undefined ? { mode: f.mode } : {}) }));
    await sb.writeFiles(entries);
    ctx.store.audit.action({ actor: actorOf(req), action: 'upload', sandboxId: sb.id, detail: { files: req.body.files.map((f) => f.path).slice(0, 50), count: req.body.files.length } });
    return { written: entries.length };
  });

  r.get('/sandboxes/:id/files', { schema: { tags, summary: 'Read one file: JSON with utf8 or base64 content, or the raw bytes (encoding=raw)', params: SandboxParams, querystring: FileQuery } }, async (req, reply) => {
    const sb = await scopedSandbox(ctx, req, req.params.id);
    const buf = await sb.readFile(req.query.path);
    if (req.query.encoding === 'raw') return reply.type('application/octet-stream').send(buf);
    return { path: req.query.path, size: buf.length, encoding: req.query.encoding, content: buf.toString(req.query.encoding === 'base64' ? 'base64' : 'utf8') };
  });

  r.get('/sandboxes/:id/files/list', { schema: { tags, summary: 'List a directory (default /workspace): name, type, size, mtime, mode; symlinks shown, never followed', params: SandboxParams, querystring: ListDirQuery } }, async (req) => {
    const sb = await ctx.warden.get(req.params.id);
    return { path: req.query.path, entries: await sb.files.list(req.query.path) };
  });

  r.get('/sandboxes/:id/archive', { schema: { tags, summary: 'Download a file or directory as a tar stream', params: SandboxParams, querystring: ArchiveQuery } }, async (req, reply) => {
    const sb = await scopedSandbox(ctx, req, req.params.id);
    const tar = await sb.files.readTar(req.query.path);
    return reply.type('application/x-tar').send(tar);
  });

  r.put('/sandboxes/:id/archive', { bodyLimit: ARCHIVE_BODY_LIMIT, onRequest: tarOnly, schema: { tags, summary: 'Upload a tar stream (content-type application/x-tar), extracted under path (default /workspace)', params: SandboxParams, querystring: ArchiveQuery } }, async (req) => {
    const sb = await scopedSandbox(ctx, req, req.params.id);
    const body = req.body as Readable;
    try {
      await sb.files.writeTar(req.query.path, body);
    } catch (err) {
      body.resume(); // what is left of the upload goes nowhere
      if (err instanceof WardenError) throw err;
      // tar-stream's own complaints (not a tar, truncated, bad checksum): the client's bytes, not the server
      throw new WardenError('INVALID_ARGUMENT', `the body is not a valid tar archive (${(err as Error).message}); send a tar stream, e.g. \`tar -c -C DIR . | curl -T - -H 'content-type: application/x-tar' ...\``);
    }
    ctx.store.audit.action({ actor: actorOf(req), action: 'upload-archive', sandboxId: sb.id, detail: { path: req.query.path } });
    return { ok: true };
  });
}
