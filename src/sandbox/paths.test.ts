import { describe, expect, it } from 'vitest';
import { confinePath, prefixes } from './paths.js';

const roots = ['/workspace', '/tmp', '/home/agent'];

describe('confinePath', () => {
  it('takes relative paths from /workspace', () => {
    expect(confinePath('src/a.ts', roots)).toEqual({ root: '/workspace', abs: '/workspace/src/a.ts', rel: 'src/a.ts' });
    expect(confinePath('/tmp/x', roots).root).toBe('/tmp');
  });
  it('refuses escapes with a reason', () => {
    expect(() => confinePath('../etc/passwd', roots)).toThrow(/'\.\.' is not allowed/);
    expect(() => confinePath('/workspace/../etc/passwd', roots)).toThrow(/'\.\.' is not allowed/);
    expect(() => confinePath('/etc/passwd', roots)).toThrow(/outside the allowed roots/);
    expect(() => confinePath('/workspacefoo/x', roots)).toThrow(/outside the allowed roots/);
    expect(() => confinePath('a\0b', roots)).toThrow(/NUL/);
  });
  it('lists the prefixes to check for links', () => {
    expect(prefixes('a/b/c')).toEqual(['a', 'a/b', 'a/b/c']);
  });
});
