import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAciTerminal } from '../../src/runtime/aci/aci-terminal.js';
import { describeStreamEnd, FramedExec } from '../../src/runtime/aci/exec-framing.js';
import type { FramedExecRequest } from '../../src/runtime/aci/exec-protocol.js';
import { aciClient, collect, groupName, sandboxGroup, standin } from './support.js';

const HELPER = '/.warden/warden-aci-exec';
/** Bounded: this many execs, this many at once (the machine's load does the rest). */
const EXECS = Number(process.env.WARDEN_ACI_STRESS_EXECS ?? 300);
const PARALLEL = Number(process.env.WARDEN_ACI_STRESS_PARALLEL ?? 8);
/** One exec, start to exit, normally well under a second; past this it is stuck. */
const EXEC_BOUND_MS = 30_000;

/**
 * Many short framed execs at once: each must end with its exit record and all its output. Short
 * commands are the hard case: the command's output, its exit and the helper's own exit follow each
 * other within microseconds, so whatever drops the end of a terminal stream shows here first. A
 * failure prints every lost exec's end report (who closed, whether the exit record came, what arrived).
 */
describe('many short framed execs at once, each with its exit and all its output, against the ACI stand-in', () => {
  const client = aciClient();
  const name = groupName('stress');
  const rg = (): string => standin().resourceGroup;
  beforeAll(async () => {
    await client.containerGroups.beginCreateOrUpdateAndWait(rg(), name, sandboxGroup());
  });
  afterAll(async () => {
    await client.containerGroups.beginDeleteAndWait(rg(), name).catch(() => undefined);
  });

  /** The shapes that end fastest: output then exit at once, no output, stderr only, stdin echoed, a kill. */
  function request(i: number): { req: FramedExecRequest; stdin?: string; expect: { stdout: string; stderr: string; exitCode: number } } {
    switch (i % 5) {
      case 0:
        return { req: { argv: ['sh', '-c', `echo out-${i}; exit ${i % 7}`] }, expect: { stdout: `out-${i}\n`, stderr: '', exitCode: i % 7 } };
      case 1:
        return { req: { argv: ['true'] }, expect: { stdout: '', stderr: '', exitCode: 0 } };
      case 2:
        return { req: { argv: ['sh', '-c', `printf 'err-${i}' >&2; exit 1`] }, expect: { stdout: '', stderr: `err-${i}`, exitCode: 1 } };
      case 3:
        return { req: { argv: ['cat'], stdin: true }, stdin: `in-${i}`, expect: { stdout: `in-${i}`, stderr: '', exitCode: 0 } };
      default:
        return { req: { argv: ['sh', '-c', `head -c 40000 /dev/zero | tr '\\0' x; kill -9 $$`] }, expect: { stdout: 'x'.repeat(40000), stderr: '', exitCode: 137 } };
    }
  }

  it(`runs ${EXECS} short execs, ${PARALLEL} at a time, and every one ends with its exit record and all its output, against the ACI stand-in`, async () => {
    const failures: string[] = [];
    let next = 0;
    const t0 = Date.now();
    const worker = async (): Promise<void> => {
      while (next < EXECS) {
        const i = next++;
        const { req: base, stdin, expect: want } = request(i);
        // every other one in the runtime's own shape: kept on loss, with a dead-man switch
        const req: FramedExecRequest = i % 2 ? { ...base, keepOnLoss: true, deadmanSeconds: 4 } : base;
        let p: FramedExec | undefined;
        // every step bounded, so that a stuck exec fails naming the step and its stream's state instead
        // of running into the test's time-out (the ARM call as the runtime bounds it: the SDK has no
        // time-out of its own)
        let step = 'the executeCommand call';
        let timer: NodeJS.Timeout | undefined;
        const stuck = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`stuck for ${EXEC_BOUND_MS} ms in ${step}${p ? `; ${describeStreamEnd(p.report())}` : ''}`)), EXEC_BOUND_MS);
        });
        try {
          const r = await Promise.race([client.containers.executeCommand(rg(), name, 'sandbox', { command: HELPER, terminalSize: { rows: 24, cols: 80 } }, { abortSignal: AbortSignal.timeout(EXEC_BOUND_MS) }), stuck]);
          step = 'opening the terminal';
          const ws = await Promise.race([openAciTerminal(r.webSocketUri!, r.password!), stuck]);
          step = "the helper's hello";
          p = await Promise.race([FramedExec.start(ws, req), stuck]);
          step = 'the output and the exit';
          if (stdin !== undefined) p.stdin!.end(stdin);
          const [out, err, exit] = await Promise.race([Promise.all([collect(p.stdout), collect(p.stderr), p.wait()]), stuck]);
          const got = { stdout: out.toString(), stderr: err.toString(), exitCode: exit.exitCode };
          if (got.stdout !== want.stdout || got.stderr !== want.stderr || got.exitCode !== want.exitCode) {
            failures.push(`#${i} ${JSON.stringify(req.argv)}: got ${JSON.stringify(got).slice(0, 200)}; ${describeStreamEnd(p.report())}`);
          }
        } catch (err) {
          failures.push(`#${i} ${JSON.stringify(req.argv)}: ${(err as Error).message}${p ? '' : ' (before the start)'}`);
          p?.close('the stress test gave up on it');
        } finally {
          clearTimeout(timer);
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    console.log(`[stress] ${EXECS} framed execs, ${PARALLEL} at a time, in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${failures.length} failed`);
    expect(failures).toEqual([]);
  });
});
