import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Periodic } from './periodic.js';

describe('Periodic', () => {
  it('runs again only after the previous run ended, survives a failing run, and stops', async () => {
    let running = 0;
    let overlap = false;
    let runs = 0;
    const p = new Periodic(10, async () => {
      running++;
      if (running > 1) overlap = true;
      runs++;
      await sleep(30);
      running--;
      if (runs === 2) throw new Error('a failing check');
    });
    p.start();
    await sleep(200);
    p.stop();
    const after = runs;
    expect(after).toBeGreaterThanOrEqual(3);
    expect(overlap).toBe(false);
    await sleep(100);
    expect(runs).toBeLessThanOrEqual(after + 1); // at most the run in flight when stopped
  });
});
