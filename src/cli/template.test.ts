import { describe, expect, it } from 'vitest';
import { checkTemplate, renderTemplate } from './template.js';

const v = { ID: 'abc', State: 'running', Labels: { 'warden.owner': 'me', a: 'b' }, Spec: { resources: { memory: '512m' } }, Ports: [1, 2] };

describe('--format templates', () => {
  it('renders fields, nested fields (any case), json, index, upper', () => {
    expect(renderTemplate('{{.ID}} {{.state}}', v)).toBe('abc running');
    expect(renderTemplate('{{.Spec.resources.memory}}', v)).toBe('512m');
    expect(renderTemplate('{{json .Labels}}', v)).toBe('{"warden.owner":"me","a":"b"}');
    expect(renderTemplate('{{index .Labels "warden.owner"}}', v)).toBe('me');
    expect(renderTemplate('{{upper .State}}', v)).toBe('RUNNING');
    expect(renderTemplate('{{json .}}', { a: 1 })).toBe('{"a":1}');
    expect(renderTemplate('{{.Missing}} {{.Ports}}', v)).toBe('<no value> [1 2]');
  });

  it('refuses what it does not understand, naming it', () => {
    expect(() => checkTemplate('{{.ID')).toThrow(/unclosed/);
    expect(() => checkTemplate('{{range .X}}')).toThrow(/not understood/);
    expect(() => checkTemplate('{{ID}}')).toThrow(/not a field/);
    expect(() => checkTemplate('{{.ID}} ok')).not.toThrow();
  });
});
