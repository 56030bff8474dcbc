import type { Sandbox } from '../../src/sandbox/sandbox.js';
import type { Warden } from '../../src/sandbox/warden.js';

/**
 * Seed 3's `AppContainer`, written over Warden's SDK: what the app builder's server keeps per
 * conversation. Each method is a line or two of SDK code.
 */
export class AppContainer {
  private sb?: Sandbox;

  constructor(
    private readonly warden: Warden,
    readonly conversationId: string,
    private readonly extra: { labels?: Record<string, string> } = {},
  ) {}

  /** Start the conversation's sandbox (or resume it) and upload the boilerplate. */
  async initialize(boilerplate: Array<{ path: string; content: string }> = []): Promise<void> {
    this.sb = await this.warden.ensure({ template: 'react-vite', key: this.conversationId, ...this.extra });
    if (boilerplate.length) await this.sb.writeFiles(boilerplate);
  }

  executeCommand(command: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return this.need().exec(['bash', '-lc', command], { timeoutMs: 180_000 });
  }

  /** Files as text or base64 (the seed's uploads), replacing what is there. */
  uploadFiles(files: Array<{ path: string; content?: string; base64?: string }>): Promise<void> {
    return this.need().writeFiles(files);
  }

  async downloadFiles(paths: string[]): Promise<Array<{ path: string; content: string }>> {
    return Promise.all(paths.map(async (path) => ({ path, content: await this.need().readText(path) })));
  }

  getDevServerUrl(): string {
    return this.need().url(3001);
  }

  async cleanup(): Promise<void> {
    if (this.sb) await this.warden.remove(this.sb.containerId, { force: true });
    this.sb = undefined;
  }

  get sandbox(): Sandbox {
    return this.need();
  }

  private need(): Sandbox {
    if (!this.sb) throw new Error('AppContainer not initialized: call initialize() first');
    return this.sb;
  }
}
