import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WardenStore } from '../store/store.js';

/** Prometheus metrics of one server (its own registry: no module-level singletons). */
export interface ServerMetrics {
  registry: Registry;
  execsStarted: Counter<'mode'>;
  execsFinished: Counter<'result'>;
  execDuration: Histogram;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  actions: Counter<'action'>;
  /** Errors the process guard caught (each one a bug). */
  faults: Counter<'kind'>;
}

export function createMetrics(store: WardenStore): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'warden_process_' });
  new Gauge({
    name: 'warden_sandboxes',
    help: 'Sandboxes known to the server, by state (vanished: the container disappeared)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [state, n] of Object.entries(store.sandboxes.countByState())) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'warden_egress_requests',
    help: 'Egress requests seen by the proxies of this server\'s sandboxes, allowed or denied',
    labelNames: ['decision'],
    registers: [registry],
    collect() {
      const c = store.audit.egressCounts();
      this.set({ decision: 'allowed' }, c.allowed);
      this.set({ decision: 'denied' }, c.denied);
    },
  });
  return {
    registry,
    execsStarted: new Counter({ name: 'warden_execs_started_total', help: 'Commands started through the API', labelNames: ['mode'], registers: [registry] }),
    execsFinished: new Counter({ name: 'warden_execs_finished_total', help: 'Commands finished, by result (ok, nonzero, timeout, abort)', labelNames: ['result'], registers: [registry] }),
    execDuration: new Histogram({ name: 'warden_exec_duration_seconds', help: 'Command durations', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers: [registry] }),
    httpDuration: new Histogram({ name: 'warden_http_request_duration_seconds', help: 'HTTP request durations by route', labelNames: ['method', 'route', 'status'], buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    faults: new Counter({ name: 'warden_process_faults_total', help: 'Uncaught exceptions and unhandled rejections the process guard caught (each is a bug)', labelNames: ['kind'], registers: [registry] }),
    actions: new Counter({ name: 'warden_actions_total', help: 'Lifecycle actions through the API (create, stop, kill, remove, refresh, panic)', labelNames: ['action'], registers: [registry] }),
  };
}
