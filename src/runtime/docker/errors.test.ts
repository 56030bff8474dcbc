import { describe, expect, it } from 'vitest';
import { translateEngineError } from './errors.js';

const errno = (code: string): Error => Object.assign(new Error(`connect ${code} /var/run/docker.sock`), { code });

describe('translateEngineError: an unreachable engine', () => {
  it('says a refused socket means no engine, and how to start one', () => {
    const e = translateEngineError(errno('ECONNREFUSED'), 'listing containers');
    expect(e.code).toBe('ENGINE_UNAVAILABLE');
    expect(e.message).toMatch(/no Docker engine answers \(ECONNREFUSED\)/);
  });
  it('says a permission error is about the socket group, with the fix for Warden in Docker', () => {
    const e = translateEngineError(errno('EACCES'), 'listing containers');
    expect(e.code).toBe('ENGINE_UNAVAILABLE');
    expect(e.message).toMatch(/permission denied on the engine socket/);
    expect(e.message).toMatch(/DOCKER_GID/);
    expect(e.message).not.toMatch(/no Docker engine answers/);
  });
});
