import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ValidationError, WardenError, type WardenErrorCode } from '../errors.js';
import type { Logger } from '../log.js';

/** HTTP status per Warden error code: chosen here and only here. */
export const STATUS_BY_CODE: Record<WardenErrorCode, number> = {
  INVALID_SPEC: 400,
  INVALID_ARGUMENT: 400,
  PATH_REFUSED: 400,
  ROOT_REFUSED: 400,
  IMAGE_NOT_FOUND: 400,
  RUNTIME_UNAVAILABLE: 400,
  SANDBOX_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  EXEC_NOT_FOUND: 404,
  NAME_CONFLICT: 409,
  CONFLICT: 409,
  SANDBOX_NOT_RUNNING: 409,
  EXEC_TIMEOUT: 504,
  EXEC_ABORTED: 409,
  EXEC_FAILED: 502,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ENGINE_UNAVAILABLE: 503,
  SERVER_UNREACHABLE: 503,
  ENGINE_ERROR: 502,
  IMAGE_BUILD_FAILED: 500,
  BOOTSTRAP_FAILED: 500,
  STORE_ERROR: 500,
  AGENT_AUTH_MISSING: 400,
  AGENT_API_UNREACHABLE: 502,
  AGENT_FAILED: 502,
  AGENT_CANCELLED: 409,
  TEMPLATE_NOT_READY: 502,
  PTY_NOT_FOUND: 404,
  PTY_UNSUPPORTED: 400,
  PTY_DETACHED: 409,
  NOT_A_TERMINAL: 400,
  AMBIGUOUS_ID: 400,
  UNSUPPORTED_ON_RUNTIME: 400,
  KEY_TAKEN: 409,
};

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string; issues?: Array<{ path: string; message: string }> };
}

export function errorBody(code: string, message: string, issues?: Array<{ path: string; message: string }>): ErrorBody {
  return { error: { code, message, ...(issues ? { issues } : {}) } };
}

/**
 * One error handler for every route: schema errors are 400 naming each field, Warden errors get the
 * status of their code, fastify's own client errors (body too large, bad JSON) keep their 4xx, and
 * anything else is a 500 with a message but never a stack.
 */
export function errorHandler(log: Logger) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply): void => {
    // a route may have set its own type (a tar download) before its stream failed: errors are JSON
    void reply.type('application/json; charset=utf-8');
    if (hasZodFastifySchemaValidationErrors(err)) {
      const issues = err.validation.map((v) => ({
        path: `${err.validationContext ?? 'body'}${v.instancePath.replace(/\//g, '.')}`,
        message: v.message ?? 'invalid',
      }));
      void reply.code(400).send(errorBody('INVALID_ARGUMENT', `invalid request: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues));
      return;
    }
    if (err instanceof ValidationError) {
      void reply.code(400).send(errorBody(err.code, err.message, err.issues));
      return;
    }
    if (err instanceof WardenError) {
      const status = STATUS_BY_CODE[err.code] ?? 500;
      if (status >= 500) log.warn({ err, url: req.url }, 'request failed');
      void reply.code(status).send(errorBody(err.code, err.message));
      return;
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) log.error({ err, url: req.url }, 'unexpected error');
    const code = status === 413 ? 'BODY_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : status < 500 ? 'INVALID_ARGUMENT' : 'INTERNAL';
    const message = status === 413 ? `the request body is larger than this route accepts (${err.message}); send files as a tar stream to PUT .../archive for large uploads` : status < 500 ? err.message : 'internal error; the server log has the details';
    void reply.code(status).send(errorBody(code, message));
  };
}
