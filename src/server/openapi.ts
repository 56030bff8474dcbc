/**
 * The API's OpenAPI document as fastify-swagger builds it from the routes' zod schemas, completed with
 * what the routes really answer (so a schema-driven fuzzer can hold the server to it): every operation
 * documents its coded errors (4XX, and 5XX for an engine that is down), its success status (201 for
 * creations, 202 for agent runs) and content type (SSE, tar, raw bytes, Prometheus text), the tar
 * upload's request body, and that /healthz needs no token.
 */

type Json = Record<string, any>;

const ERROR_SCHEMA: Json = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'Stable error code (see ERROR_CODES).' },
        message: { type: 'string', description: 'What happened and how to fix it.' },
        issues: { type: 'array', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } } },
      },
    },
  },
};

const json = (schema: Json = { type: 'object' }): Json => ({ 'application/json': { schema } });

/** Success status other than 200, by "METHOD path". */
const STATUS: Record<string, string> = {
  'POST /api/v1/sandboxes': '201',
  'POST /api/v1/agents/{agent}/runs': '202',
  'POST /api/v1/tokens': '201',
};

/** A Server-Sent Events stream: every event has a name and a JSON `data` line (and an `id` where replayable). */
const SSE: Json = { 'text/event-stream': { schema: { type: 'object', required: ['data'], properties: { event: { type: 'string' }, data: { type: 'string', description: 'JSON' }, id: { type: 'string' } } } } };

/** Success content other than a JSON object, by "METHOD path". */
const CONTENT: Record<string, Json> = {
  'POST /api/v1/sandboxes/{id}/exec/stream': SSE,
  'GET /api/v1/events': SSE,
  'GET /api/v1/sandboxes/{id}/output': SSE,
  'GET /api/v1/agent-runs/{runId}/events': SSE,
  'GET /api/v1/sandboxes/{id}/archive': { 'application/x-tar': { schema: { type: 'string', format: 'binary' } } },
  'GET /api/v1/sandboxes/{id}/files': { ...json(), 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
  'GET /metrics': { 'text/plain': { schema: { type: 'string' } } },
  'GET /api/v1/sandboxes/{id}/logs': { 'text/plain': { schema: { type: 'string' } } },
};

/** Complete the generated document in place (idempotent) and return it. */
export function finishOpenApi(doc: Json): Json {
  for (const [path, ops] of Object.entries((doc.paths ?? {}) as Record<string, Json>)) {
    for (const [method, op] of Object.entries(ops)) {
      const key = `${method.toUpperCase()} ${path}`;
      const responses: Json = (op.responses ??= {});
      const status = STATUS[key] ?? '200';
      const generated = responses['200'] ?? {};
      if (status !== '200') delete responses['200'];
      responses[status] = { ...generated, description: generated.description && generated.description !== 'Default Response' ? generated.description : 'Success', content: CONTENT[key] ?? generated.content ?? json() };
      responses['4XX'] ??= { description: 'A coded client error naming the field and the fix (400 invalid input, 401/403 token, 404 unknown, 409 conflict, 413 too large, 415 wrong content type)', content: json(ERROR_SCHEMA) };
      responses['5XX'] ??= { description: 'The engine or a dependency failed (503 engine down, 502 engine error); never for input', content: json(ERROR_SCHEMA) };
      if (key === 'GET /readyz') responses['503'] = { description: 'Not ready', content: json({ type: 'object', required: ['status'], properties: { status: { type: 'string' }, engine: { type: 'boolean' }, reconciled: { type: 'boolean' } } }) };
      if (key === 'GET /healthz') op.security = [];
      if (key === 'PUT /api/v1/sandboxes/{id}/archive') op.requestBody = { required: true, content: { 'application/x-tar': { schema: { type: 'string', format: 'binary' } } } };
    }
  }
  return doc;
}
