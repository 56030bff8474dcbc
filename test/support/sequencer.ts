import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The engine tier's longest files first. A fresh checkout (CI) has no duration cache, so vitest orders
 * files by size, and the two longest (the API fuzzer, ~75-185 s, and the package test, ~95-150 s) are
 * small files: they started near the end and ran on alone after the rest was done. Longest first, the
 * two workers end together. The rest keeps vitest's own order.
 */
const LONGEST_FIRST = [
  'test/fuzz.int.test.ts',
  'test/package.int.test.ts',
  'test/app-browser.int.test.ts',
  'test/agents-tui.int.test.ts',
  'test/app-sandbox.int.test.ts',
  'test/guarantees.int.test.ts',
];

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const base = await super.sort(files);
    const rank = (f: TestSpecification): number => {
      const i = LONGEST_FIRST.findIndex((p) => f.moduleId.endsWith(p));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    return base
      .map((f, i) => ({ f, i }))
      .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
      .map(({ f }) => f);
  }
}
