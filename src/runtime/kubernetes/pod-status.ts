import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { WardenError } from '../../errors.js';
import type { UnitState } from '../sandbox-runtime.js';

/** Waiting reasons that never clear by themselves (the pod must be made again, or the cluster fixed). */
const FATAL_WAITING = new Set(['ErrImageNeverPull', 'ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerError', 'RunContainerError', 'CrashLoopBackOff']);

function statuses(pod: V1Pod): V1ContainerStatus[] {
  return [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
}

/** The status of one container of the pod. */
export function containerStatus(pod: V1Pod, name: string): V1ContainerStatus | undefined {
  return statuses(pod).find((s) => s.name === name);
}

/** Whether the pod's container `name` runs (its init containers are done). */
export function isRunning(pod: V1Pod | undefined, name: string): boolean {
  return pod?.status?.phase === 'Running' && Boolean(containerStatus(pod, name)?.state?.running);
}

/** Whether nothing of the pod runs any more. */
export function isFinished(pod: V1Pod | undefined): boolean {
  return !pod || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/**
 * Why a pod that should start cannot, or undefined while it may still: an image the node does not
 * have, a container the runtime refused (a missing seccomp profile), a pod that failed or ended, a
 * pod the scheduler cannot place. `logs` are the failed container's last lines when known.
 */
export function podProblem(pod: V1Pod | undefined, what: string, logs?: (container: string) => string | undefined): WardenError | undefined {
  if (!pod) return new WardenError('ENGINE_ERROR', `${what}: the pod was deleted while it started`);
  for (const s of statuses(pod)) {
    const waiting = s.state?.waiting;
    if (waiting?.reason && FATAL_WAITING.has(waiting.reason)) {
      const msg = waiting.message ?? '';
      if (/ErrImage|ImagePull|InvalidImageName/.test(waiting.reason)) {
        return new WardenError('IMAGE_NOT_FOUND', `${what}: the node has no image ${s.image} (${waiting.reason}: ${msg.slice(0, 300)}); load it with \`warden images build --runtime kubernetes\` (local cluster) or push it where the nodes pull from`);
      }
      if (/seccomp/i.test(msg)) {
        return new WardenError('ENGINE_ERROR', `${what}: the node cannot load Warden's seccomp profile (${msg.slice(0, 300)}); install it with \`warden images build --runtime kubernetes\` on a local cluster, or set WARDEN_KUBE_SECCOMP=runtime-default`);
      }
      return new WardenError('ENGINE_ERROR', `${what}: container ${s.name} cannot start (${waiting.reason}: ${msg.slice(0, 400)})`);
    }
    const term = s.state?.terminated;
    if (term && (pod.status?.initContainerStatuses ?? []).includes(s) && term.exitCode !== 0) {
      const out = logs?.(s.name) ?? term.message ?? '';
      return new WardenError('ENGINE_ERROR', `${what}: its ${s.name} step failed (exit ${term.exitCode}): ${out.trim().slice(-600) || term.reason || 'no output'}`, {
        details: { container: s.name, exitCode: term.exitCode },
      });
    }
  }
  if (pod.metadata?.deletionTimestamp) return new WardenError('ENGINE_ERROR', `${what}: the pod is being deleted`);
  if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') {
    const term = pod.status.containerStatuses?.[0]?.state?.terminated;
    return new WardenError('ENGINE_ERROR', `${what}: the pod ended at once (${pod.status.reason ?? term?.reason ?? pod.status.phase}${term ? `, exit ${term.exitCode}` : ''}): ${pod.status.message ?? term?.message ?? ''}`.trim());
  }
  const unschedulable = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable');
  if (unschedulable) return new WardenError('ENGINE_ERROR', `${what}: no node can run it (${unschedulable.message ?? 'unschedulable'})`);
  return undefined;
}

/** The runtime-neutral state of a sandbox pod. */
export function unitState(pod: V1Pod, main: string): UnitState {
  if (pod.metadata?.deletionTimestamp) return 'removing';
  const phase = pod.status?.phase;
  const st = containerStatus(pod, main);
  if (phase === 'Succeeded' || phase === 'Failed') return st?.state?.terminated || st?.lastState?.terminated ? 'stopped' : 'failed';
  if (phase === 'Running' && st?.state?.running) return 'running';
  if (phase === 'Running' && st?.state?.terminated) return 'stopped';
  if (podProblem(pod, '')) return 'failed';
  return 'creating';
}
