import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SOURCE = fileURLToPath(new URL('../../../guest/aci/warden-aci-exec.c', import.meta.url));

describe('guest/aci/warden-aci-exec.c (no engine)', () => {
  it('compiles cleanly with the flags of its image build (the lint)', () => {
    // the image build uses the same flags with -Werror; this catches a warning before an image build does
    expect(() => execFileSync('gcc', ['-fsyntax-only', '-Wall', '-Wextra', '-Werror', '-std=c11', '-D_FORTIFY_SOURCE=2', '-O2', SOURCE], { stdio: 'pipe' })).not.toThrow();
  });
});
