import { describe, expect, it } from 'vitest';
import { renderFormat } from './format.js';

const rows = [{ ID: 'sbx-1', State: 'running' }, { ID: 'sbx-2', State: 'exited' }];

describe('--format', () => {
  it('renders {{.Field}} templates, escapes and a table header', () => {
    expect(renderFormat('{{.ID}}', rows, ['ID', 'State'])).toBe('sbx-1\nsbx-2\n');
    expect(renderFormat('{{ .ID }}\\t{{.State}}', rows, ['ID', 'State'])).toBe('sbx-1\trunning\nsbx-2\texited\n');
    expect(renderFormat('table {{.ID}} {{.State}}', rows, ['ID', 'State'])).toBe('ID STATE\nsbx-1 running\nsbx-2 exited\n');
    expect(renderFormat('json', rows, ['ID', 'State']).split('\n')[0]).toBe('{"ID":"sbx-1","State":"running"}');
  });
  it('refuses unknown fields and templates without one', () => {
    expect(() => renderFormat('{{.Nope}}', rows, ['ID'])).toThrow(/'\{\{\.Nope\}\}' is not a field; use \{\{\.ID\}\}/);
    expect(() => renderFormat('plain', rows, ['ID'])).toThrow(/has no \{\{\.Field\}\}/);
  });
});
