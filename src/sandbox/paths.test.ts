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
  it('refuses names over 255 bytes and paths over 4095 bytes, showing a shortened path (found by the fuzzer: tar failed inside with a 502)', () => {
    expect(confinePath(`d/${'a'.repeat(255)}`, roots).rel).toBe(`d/${'a'.repeat(255)}`);
    expect(() => confinePath('0'.repeat(256), roots)).toThrow(/a name in it is 256 bytes long; file and directory names are at most 255 bytes/);
    expect(() => confinePath(`x/${'é'.repeat(128)}`, roots)).toThrow(/256 bytes long/); // bytes, not characters
    expect(() => confinePath(`${'a/'.repeat(2100)}b`, roots)).toThrow(/paths are at most 4095 bytes/);
    try {
      confinePath('0'.repeat(5000), roots);
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(300);
      expect((err as { code?: string }).code).toBe('PATH_REFUSED');
    }
  });
  it('lists the prefixes to check for links', () => {
    expect(prefixes('a/b/c')).toEqual(['a', 'a/b', 'a/b/c']);
  });
});
