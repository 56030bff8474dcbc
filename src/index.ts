/**
 * Warden's public SDK. Everything a program needs to create hardened sandboxes, run commands in them,
 * move files, and stop them for certain.
 *
 * @example
 * import { Warden } from 'warden-sandbox';
 * const warden = new Warden();
 * await using sb = await warden.create({ workspace: './my-project', resources: { memory: '1g' } });
 * const { exitCode, stdout } = await sb.exec(['npm', 'test'], { timeoutMs: 120_000 });
 */
export { Warden } from './sandbox/warden.js';
export type { WardenOptions, ListFilter } from './sandbox/warden.js';
export { Sandbox } from './sandbox/sandbox.js';
export type { SandboxInfo, SandboxState } from './sandbox/info.js';
export { SandboxProcess } from './sandbox/process.js';
export type { SpawnOptions, ExecOptions, ExecResult, ExitInfo } from './sandbox/process.js';
export { SandboxPty, PtySessions, DEFAULT_SHELL } from './sandbox/pty.js';
export type { PtyOptions, PtySessionInfo } from './sandbox/pty.js';
export { SandboxFiles, fromBase64 } from './sandbox/files.js';
export type { FileEntry, DirEntry } from './sandbox/files.js';
export { SandboxSpecSchema, parseSpec, DEFAULT_IMAGE } from './policy/spec.js';
export type { SandboxSpec, SandboxSpecInput } from './policy/spec.js';
export { LABEL } from './policy/labels.js';
export { WardenError, EngineError, ValidationError, ExecTimeoutError, isWardenError, ERROR_CODES } from './errors.js';
export type { WardenErrorCode } from './errors.js';
export type {
  SandboxRuntime,
  SandboxPlan,
  SandboxRecord,
  Unit,
  UnitRef,
  UnitSelector,
  UnitState,
  Capability,
  ExecRequest,
  ExecHandle,
  OwnerLink,
  OwnerSession,
  RuntimeInfo,
  RuntimeCheck,
  RuntimeKind,
  PruneResult,
  PanicResult,
} from './runtime/sandbox-runtime.js';
export { createRuntime, createImageStore } from './runtime/select.js';
export type { CreateRuntimeOptions } from './runtime/select.js';
export { runtimeSettingsFromEnv } from './config/runtime.js';
export type { RuntimeSettings } from './config/runtime.js';
export { DockerSandboxRuntime } from './runtime/docker/docker-sandbox-runtime.js';
export type { DockerRuntimeOptions } from './runtime/docker/docker-sandbox-runtime.js';
export { MemoryRuntime } from './runtime/memory/memory-runtime.js';
export type { MemoryRuntimeOptions } from './runtime/memory/memory-runtime.js';
export type { ImageStore, BuildResult, ImageRow } from './images/store.js';
export { CATALOG } from './images/catalog.js';
export { runDoctor } from './doctor/doctor.js';
export { AutoRefresher, AutoRefreshPolicySchema, parseAutoRefreshPolicy, refreshReasons } from './sandbox/auto-refresh.js';
export type { AutoRefreshPolicy, AutoRefreshPolicyInput, RefreshRecord } from './sandbox/auto-refresh.js';
export type { SandboxStats, SandboxHealth, SandboxProcessRow, HealthThresholds } from './sandbox/monitor.js';
export type { PanicReport, PruneReport } from './sandbox/warden.js';
export type { Check } from './doctor/doctor.js';
export { Agent, AgentSession, AGENTS_IMAGE, AgentRunOptionsSchema, AgentSandboxOptionsSchema, AgentPromptOptionsSchema } from './agents/agent.js';
export type { AgentOptions, AgentRunOptions, AgentSandboxOptions, AgentPromptOptions } from './agents/agent.js';
export { AgentRun } from './agents/run.js';
export type { AgentResult, AgentRunEvent } from './agents/run.js';
export type { AgentEvent, AgentName, AgentUsage, AgentParser } from './agents/events.js';
export { claudeParser } from './agents/claude-parser.js';
export { codexParser } from './agents/codex-parser.js';
export { geminiParser } from './agents/gemini-parser.js';
export { JsonlRunRecorder } from './agents/recorder.js';
export type { AgentRunRecorder, AgentRunStart, AgentRunEnd, AgentRunEventSummary, AgentRunStatus } from './agents/recorder.js';
export { AgentsConfigSchema, loadAgentsConfig } from './agents/config.js';
export type { AgentsConfig, AuthMode } from './agents/config.js';
export { claude, gemini, codex } from './agents/docker-mode.js';
export { TEMPLATES, getTemplate, withTemplate } from './templates/catalog.js';
export type { AppTemplate } from './templates/catalog.js';
export { ensureDevServer, probeHttp } from './templates/readiness.js';
export type { ReadyResult } from './templates/readiness.js';
export type { CreateOptions } from './sandbox/warden.js';
export { IdleStopper, IdlePolicySchema, parseIdlePolicy, idleForMs } from './sandbox/idle.js';
export type { IdlePolicy, IdlePolicyInput, IdleStopRecord, ActivitySignals } from './sandbox/idle.js';
