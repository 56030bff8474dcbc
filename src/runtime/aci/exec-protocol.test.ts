import { describe, expect, it } from 'vitest';
import { encodeRequest, parseHelperRecord, RecordReader, resizeRecord, signalRecord, stdinRecords, STDIN_CHUNK } from './exec-protocol.js';

describe('the warden-aci-exec framing (no engine)', () => {
  it('encodes a request as NUL-terminated tagged fields', () => {
    const b = encodeRequest({ argv: ['sh', '-c', 'echo a b'], env: { A: '1=2' }, cwd: '/w', stdin: true, timeoutSeconds: 5, deadmanSeconds: 3, execId: 'x.1' });
    expect(b.toString('utf8').split('\0')).toEqual(['ash', 'a-c', 'aecho a b', 'eA=1=2', 'c/w', 'i1', 't5', 'd3', 'mx.1', '']);
    expect(encodeRequest({ argv: ['x'], keepOnLoss: true, tty: { rows: 30, cols: 100 } }).toString('utf8').split('\0')).toEqual(['ax', 'k1', 'y30 100', '']);
    expect(resizeRecord(40, 120)).toBe('~W40 120\n');
    expect(() => resizeRecord(0, 80)).toThrow(/rows must be/);
    expect(() => encodeRequest({ argv: ['x'], tty: { rows: 24, cols: 1.5 } })).toThrow(/cols must be/);
  });

  it('refuses what the helper could not receive', () => {
    expect(() => encodeRequest({ argv: [] })).toThrow(/argv is empty/);
    expect(() => encodeRequest({ argv: ['a\0b'] })).toThrow(/NUL/);
    expect(() => encodeRequest({ argv: ['x'], env: { 'A=B': '1' } })).toThrow(/invalid/);
    expect(() => encodeRequest({ argv: ['x'], timeoutSeconds: 1.5 })).toThrow(/whole number/);
    expect(() => encodeRequest({ argv: ['x'], execId: 'a b' })).toThrow(/execId/);
    expect(() => signalRecord(0)).toThrow(/1-64/);
  });

  it('splits stdin into records of at most STDIN_CHUNK bytes', () => {
    const recs = stdinRecords(Buffer.alloc(STDIN_CHUNK * 2 + 1, 7));
    expect(recs).toHaveLength(3);
    expect(Buffer.from(recs[2]!.slice(2, -1), 'base64')).toEqual(Buffer.from([7]));
  });

  it('parses every record type', () => {
    expect(parseHelperRecord('~H2 65536')).toEqual({ type: 'hello', version: 2, window: 65536 });
    expect(parseHelperRecord('~P')).toEqual({ type: 'ping' });
    expect(parseHelperRecord('~Ldeadman')).toEqual({ type: 'lost', reason: 'deadman' });
    expect(parseHelperRecord('~S42')).toEqual({ type: 'started', pid: 42 });
    expect(parseHelperRecord('~OAP8=')).toEqual({ type: 'stdout', data: Buffer.from([0, 255]) });
    expect(parseHelperRecord('~C100')).toEqual({ type: 'credit', bytes: 100 });
    expect(parseHelperRecord('~Xc3')).toEqual({ type: 'exit', exitCode: 3 });
    expect(parseHelperRecord('~Xs9,timeout')).toEqual({ type: 'exit', exitCode: 137, signal: 9, reason: 'timeout' });
    expect(parseHelperRecord(`~F${Buffer.from('boom').toString('base64')}`)).toEqual({ type: 'fatal', message: 'boom' });
    for (const bad of ['x', '~Q', '~O***', '~Xz1', '~H1', '~Sabc', '~Px', '~L', '~LDead man']) expect(() => parseHelperRecord(bad), bad).toThrow(/corrupt/);
  });

  it('drops noise before the hello, survives CRLF and any split, and is strict after the hello', () => {
    const r = new RecordReader();
    const text = 'motd\r\n$ junk~H1 65536\r\n~S7\n~OaGk=\n~Xc0\n';
    const got = [];
    for (const ch of text) got.push(...r.push(ch)); // byte-wise splits
    expect(got.map((x) => x.type)).toEqual(['hello', 'started', 'stdout', 'exit']);
    expect(() => r.push('garbage\n')).toThrow(/corrupt/);
  });
});
