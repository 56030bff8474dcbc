import { describe, expect, it } from 'vitest';
import { keyOfUnitName, keyedUnitName } from '../unit-names.js';
import { isReadyPoolName, isUnclaimedPoolName, keyFromName, keyedName, prepName, readyName } from './names.js';

describe('container names of keyed sandboxes and pool members', () => {
  it('a key gives one name for every caller, readable when it can be, and back', () => {
    expect(keyedName('project-42')).toBe('warden-k-project-42');
    for (const key of ['project-42', 'a b/c', 'ünï', '-dash', 'x'.repeat(100)]) {
      expect(keyFromName(keyedName(key))).toBe(key);
      expect(keyFromName(`/${keyedName(key)}`)).toBe(key);
      expect(keyOfUnitName(keyedUnitName(key))).toBe(key);
      expect(keyedName(key)).toMatch(/^warden-[a-zA-Z0-9][a-zA-Z0-9_.-]*$/);
    }
    expect(new Set(['a', 'A', 'a ', 'b-a', '-a'].map(keyedName)).size).toBe(5);
  });

  it('pool members are prep- while made, pool- once ready, and unclaimed until renamed to a key', () => {
    expect(prepName('pool-react-vite-sbx-1')).toBe('warden-prep-react-vite-sbx-1');
    expect(prepName('c-sbx-1')).toBe('warden-prep-c-sbx-1'); // a member named otherwise is still one while it is made
    expect(readyName('prep-react-vite-sbx-1')).toBe('warden-pool-react-vite-sbx-1');
    expect(isUnclaimedPoolName('/warden-prep-react-vite-sbx-1')).toBe(true);
    expect(isReadyPoolName('/warden-prep-react-vite-sbx-1')).toBe(false);
    expect(isReadyPoolName('warden-pool-react-vite-sbx-1')).toBe(true);
    expect(isUnclaimedPoolName('warden-k-conv-1')).toBe(false);
    expect(keyFromName('warden-pool-react-vite-sbx-1')).toBeUndefined();
  });
});
