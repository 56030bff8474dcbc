import { describe, expect, it } from 'vitest';
import { parseBytes, parseDuration } from './units.js';

describe('parseBytes', () => {
  it('reads docker-style sizes in binary units', () => {
    expect(parseBytes('512m')).toBe(512 * 1024 ** 2);
    expect(parseBytes('2g')).toBe(2 * 1024 ** 3);
    expect(parseBytes('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseBytes('1048576')).toBe(1048576);
    expect(parseBytes(4096)).toBe(4096);
  });
  it('refuses what is not a size', () => {
    for (const bad of ['12x', '', 'm', '-1g', '0', 'one gig']) expect(parseBytes(bad)).toBeUndefined();
  });
});

describe('parseDuration', () => {
  it('reads units and sums compound durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1h30m')).toBe(5_400_000);
  });
  it('takes a bare number as seconds, as docker and coreutils do', () => {
    expect(parseDuration('10')).toBe(10_000);
    expect(parseDuration(60)).toBe(60_000);
    expect(parseDuration('0.5')).toBe(500);
  });
  it('refuses garbage', () => {
    for (const bad of ['soon', '10x', '5 minutes', '', '0s', '-5', '1e3', '400d', Number.NaN, Number.POSITIVE_INFINITY, 0]) expect(parseDuration(bad)).toBeUndefined();
  });
});
