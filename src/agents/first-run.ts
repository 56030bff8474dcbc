import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Pre-answered first-run screens of the agent TUIs, written into the CLI's state dir (mounted at its
 * config home) before the sandbox starts, so an interactive session lands at the prompt: no theme picker,
 * no "trust this folder", no login or "use this API key?" question, no "bypass permissions" warning.
 * Existing settings are kept; only the answers are added.
 */
export interface FirstRunInput {
  /** The key the CLI will see (a placeholder in keyless mode); Claude Code asks to approve it by its last 20 characters. */
  apiKey?: string;
  auth: 'keyless' | 'env' | 'files';
  /** The workspace path inside the sandbox. */
  workspace: string;
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** Claude Code: `.claude.json` (in CLAUDE_CONFIG_DIR) and `settings.json`. */
export async function claudeFirstRun(stateDir: string, input: FirstRunInput): Promise<void> {
  const file = join(stateDir, '.claude.json');
  const cfg = await readJson(file);
  const projects = obj(cfg.projects);
  const keys = obj(cfg.customApiKeyResponses);
  const approved = Array.isArray(keys.approved) ? (keys.approved as string[]) : [];
  const suffix = input.apiKey && input.auth !== 'files' ? input.apiKey.slice(-20) : undefined;
  const next = {
    ...cfg,
    hasCompletedOnboarding: true,
    lastOnboardingVersion: cfg.lastOnboardingVersion ?? '2.1.330',
    theme: cfg.theme ?? 'dark',
    bypassPermissionsModeAccepted: true,
    autoUpdates: false,
    hasSeenTasksHint: true,
    customApiKeyResponses: { rejected: [], ...keys, approved: suffix && !approved.includes(suffix) ? [...approved, suffix] : approved },
    projects: {
      ...projects,
      [input.workspace]: { allowedTools: [], ...obj(projects[input.workspace]), hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true, projectOnboardingSeenCount: 1 },
    },
  };
  await writeFile(file, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  const settingsFile = join(stateDir, 'settings.json');
  const settings = await readJson(settingsFile);
  await writeFile(settingsFile, `${JSON.stringify({ ...settings, skipDangerousModePermissionPrompt: true }, null, 2)}\n`, { mode: 0o600 });
}

/** Gemini CLI: `settings.json` in ~/.gemini (theme chosen, folder trust answered, no update check). */
export async function geminiFirstRun(stateDir: string, input: FirstRunInput): Promise<void> {
  const file = join(stateDir, 'settings.json');
  const s = await readJson(file);
  const ui = obj(s.ui);
  const security = obj(s.security);
  const general = obj(s.general);
  await writeFile(file, `${JSON.stringify({ ...s, ui: { theme: 'Default', ...ui }, general: { ...general, disableAutoUpdate: true, disableUpdateNag: true }, security: { ...security, folderTrust: { enabled: false } } }, null, 2)}\n`, { mode: 0o600 });
  // trusted folders, for CLI versions that ask even with folder trust off
  const trusted = join(stateDir, 'trustedFolders.json');
  await writeFile(trusted, `${JSON.stringify({ ...(await readJson(trusted)), [input.workspace]: 'TRUST_FOLDER' }, null, 2)}\n`, { mode: 0o600 });
}

/** Codex CLI: `config.toml` in CODEX_HOME trusts the workspace (no "trust this folder" screen). */
export async function codexFirstRun(stateDir: string, input: FirstRunInput): Promise<void> {
  const file = join(stateDir, 'config.toml');
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    /* none yet */
  }
  const table = `[projects.${JSON.stringify(input.workspace)}]`;
  if (!text.includes(table)) text = `${text}${text && !text.endsWith('\n') ? '\n' : ''}\n${table}\ntrust_level = "trusted"\n`;
  await writeFile(file, text, { mode: 0o600 });
}
