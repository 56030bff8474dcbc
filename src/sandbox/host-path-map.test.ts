import { describe, expect, it } from 'vitest';
import { ValidationError, WardenError } from '../errors.js';
import { parseHostPathMap, toHostPath, toLocalPath } from './host-path-map.js';

describe('WARDEN_HOST_PATH_MAP', () => {
  it('parses local=host pairs, longest local prefix first, trailing slashes dropped', () => {
    expect(parseHostPathMap(undefined)).toEqual([]);
    expect(parseHostPathMap('')).toEqual([]);
    expect(parseHostPathMap('/workspace=/srv/w/workspaces/, /app/data/sub=/srv/d2 ,/app/data=/srv/d')).toEqual([
      { local: '/app/data/sub', host: '/srv/d2' },
      { local: '/workspace', host: '/srv/w/workspaces' },
      { local: '/app/data', host: '/srv/d' },
    ]);
  });

  it('refuses relative paths, a missing =, and mapping /', () => {
    expect(() => parseHostPathMap('workspace=/srv/w')).toThrow(/absolute/);
    expect(() => parseHostPathMap('/workspace=srv/w')).toThrow(/absolute/);
    expect(() => parseHostPathMap('/workspace')).toThrow(/not local=host/);
    expect(() => parseHostPathMap('/=/srv')).toThrow(/every path through/);
    expect(() => parseHostPathMap('/workspace')).toThrow(WardenError);
  });

  it('maps a local path to the host path, and back', () => {
    const map = parseHostPathMap('/workspace=/home/me/warden/workspaces,/app/data=/home/me/warden/data');
    expect(toHostPath('workspace', '/workspace/p1', map)).toBe('/home/me/warden/workspaces/p1');
    expect(toHostPath('workspace', '/workspace', map)).toBe('/home/me/warden/workspaces');
    expect(toHostPath('mounts.0.source', '/app/data/agents/state/k/claude', map)).toBe('/home/me/warden/data/agents/state/k/claude');
    expect(toLocalPath('/home/me/warden/workspaces/p1/src', map)).toBe('/workspace/p1/src');
    expect(toLocalPath('/home/me/warden/workspaces', map)).toBe('/workspace');
    expect(toLocalPath('/elsewhere/x', map)).toBe('/elsewhere/x');
    expect(toLocalPath('/home/me/warden/workspaces-other/x', map)).toBe('/home/me/warden/workspaces-other/x');
  });

  it('without a map every path is its own host path', () => {
    expect(toHostPath('workspace', '/srv/p', [])).toBe('/srv/p');
    expect(toHostPath('workspace', '/srv/p', undefined)).toBe('/srv/p');
  });

  it('with a map, refuses paths under no mapping (they would name a directory of the host, not of Warden\'s container)', () => {
    const map = parseHostPathMap('/workspace=/srv/w');
    expect(() => toHostPath('workspace', '/tmp/p', map)).toThrow(ValidationError);
    expect(() => toHostPath('workspace', '/workspacefoo/p', map)).toThrow(/not under a directory shared with the engine's host \(\/workspace\)/);
  });
});
