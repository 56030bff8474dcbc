import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from './errors.js';

describe('error codes', () => {
  it('every code used in the source is documented', () => {
    const src = readFileSync(new URL('./errors.ts', import.meta.url), 'utf8');
    const declared = [...src.matchAll(/^\s+\| '([A-Z_]+)'/gm)].map((m) => m[1]);
    expect(declared.length).toBeGreaterThan(10);
    expect(Object.keys(ERROR_CODES).sort()).toEqual([...declared].sort());
    for (const text of Object.values(ERROR_CODES)) expect(text.length).toBeGreaterThan(20);
  });
});
