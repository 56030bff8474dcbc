import { describe, expect, it } from 'vitest';
import { isReadyPoolMember, isUnclaimedPoolMember, keyedName, keyFromName, poolMemberName, sandboxKey } from './naming.js';

describe('container names of keyed sandboxes', () => {
  it('are readable when the key is name-safe and reversible always', () => {
    expect(keyedName('project-42')).toBe('warden-k-project-42');
    for (const key of ['project-42', 'conv_9.a', 'a/b c', 'ünïcode ✓', 'x'.repeat(200), '-leading-dash', 'b-looks-encoded']) {
      const name = keyedName(key);
      expect(name).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/); // what the engine accepts
      expect(keyFromName(name)).toBe(key);
      expect(keyFromName(`/${name}`)).toBe(key);
    }
    // distinct keys never share a name
    expect(new Set(['a', 'A', 'a ', 'b-a', '-a'].map(keyedName)).size).toBe(5);
  });

  it('give a claimed pool member its key, and only pool members get a key from their name', () => {
    const labels = { 'warden.pool': 'react-vite' };
    expect(sandboxKey({ name: 'warden-k-conv-1', labels })).toBe('conv-1');
    expect(sandboxKey({ name: 'warden-k-conv-1', labels: {} })).toBeUndefined(); // a user's own name that merely looks keyed
    expect(sandboxKey({ name: 'warden-k-x', labels: { 'warden.key': 'real' } })).toBe('real');
    expect(isUnclaimedPoolMember({ name: 'warden-pool-react-vite-sbx-1', labels })).toBe(true);
    expect(isUnclaimedPoolMember({ name: 'warden-k-conv-1', labels })).toBe(false);
    // a member being made is counted by its pool but never handed out
    const prep = { name: poolMemberName('react-vite', 'sbx-2', false), labels };
    expect([isUnclaimedPoolMember(prep), isReadyPoolMember(prep)]).toEqual([true, false]);
    expect(isReadyPoolMember({ name: poolMemberName('react-vite', 'sbx-2', true), labels })).toBe(true);
  });
});
