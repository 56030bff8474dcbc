import type { Command } from 'commander';
import { wardenHome } from '../../config/home.js';
import { WardenError } from '../../errors.js';
import type { RemoteWarden } from '../../client/remote.js';
import { PROJECT_LABEL } from '../../server/reconcile.js';
import { WardenStore } from '../../store/store.js';
import type { TokenRecord } from '../../store/tokens.js';
import { printJson, printTable } from '../output.js';

interface TokenStoreApi {
  add(input: { name: string; role?: string; labels?: Record<string, string> }): Promise<{ token: string; record: TokenRecord }>;
  list(): Promise<TokenRecord[]>;
  remove(name: string): Promise<boolean>;
}

/** The server's token store: through the server (WARDEN_URL, an admin token) or the SQLite file in WARDEN_HOME. */
function tokenStore(remote: RemoteWarden | undefined): TokenStoreApi & { close(): void } {
  if (remote) {
    return {
      add: (input) => remote.json('POST', '/api/v1/tokens', input) as Promise<{ token: string; record: TokenRecord }>,
      list: async () => (await remote.json<{ tokens: TokenRecord[] }>('GET', '/api/v1/tokens')).tokens,
      remove: async (name) => (await remote.json('DELETE', `/api/v1/tokens/${encodeURIComponent(name)}`), true),
      close: () => undefined,
    };
  }
  const store = WardenStore.open(wardenHome());
  return {
    add: async (input) => store.tokens.add(input as Parameters<typeof store.tokens.add>[0]),
    list: async () => store.tokens.list(),
    remove: async (name) => store.tokens.remove(name),
    close: () => store.close(),
  };
}

const collect = (v: string, p: string[] = []): string[] => [...p, v];

/** `warden tokens add|ls|rm`: named API tokens of a server, each bound to a role and a label set. */
export function registerTokens(program: Command, ctx: { remote: () => RemoteWarden | undefined }): void {
  const tokens = program.command('tokens').description("named API tokens of the server (in WARDEN_HOME's store, or through WARDEN_URL with an admin token)");
  tokens
    .command('add')
    .description('make a token; its secret is printed once')
    .argument('<name>', 'who holds it, e.g. ci or team-a')
    .option('--role <role>', 'read-only | operator | admin', 'operator')
    .option('--project <name>', 'bind it to this project: it sees and makes only sandboxes of it')
    .option('--label <k=v>', 'bind it to a label (repeatable): it sees only sandboxes with every such label', collect)
    .option('--json', 'print the token and its record as JSON')
    .action(async (name: string, f: { role: string; project?: string; label?: string[]; json?: boolean }) => {
      const labels: Record<string, string> = {};
      for (const kv of f.label ?? []) {
        const i = kv.indexOf('=');
        if (i <= 0) throw new WardenError('INVALID_ARGUMENT', `--label '${kv}' must be key=value`);
        labels[kv.slice(0, i)] = kv.slice(i + 1);
      }
      if (f.project) labels[PROJECT_LABEL] = f.project;
      const s = tokenStore(ctx.remote());
      try {
        const made = await s.add({ name, role: f.role, labels });
        if (f.json) printJson(made);
        else {
          process.stdout.write(`${made.token}\n`);
          process.stderr.write(`warden: token '${name}' (${made.record.role}${Object.keys(labels).length ? `, bound to ${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',')}` : ''}): keep it, it is not shown again\n`);
        }
      } finally {
        s.close();
      }
    });
  tokens
    .command('ls')
    .description('list the named tokens (never their secrets)')
    .option('--json', 'JSON array')
    .action(async (f: { json?: boolean }) => {
      const s = tokenStore(ctx.remote());
      try {
        const list = await s.list();
        if (f.json) return printJson(list);
        printTable(['NAME', 'ROLE', 'LABELS', 'CREATED', 'LAST USED'], list.map((t) => [t.name, t.role, Object.entries(t.labels).map(([k, v]) => `${k}=${v}`).join(','), t.createdAt, t.lastUsedAt ?? '']));
      } finally {
        s.close();
      }
    });
  tokens
    .command('rm')
    .description('remove tokens (they stop working at once)')
    .argument('<names...>')
    .action(async (names: string[]) => {
      const s = tokenStore(ctx.remote());
      try {
        for (const n of names) {
          if (!(await s.remove(n))) throw new WardenError('NOT_FOUND', `no token named '${n}'; \`warden tokens ls\` lists them`);
          process.stdout.write(`${n}\n`);
        }
      } finally {
        s.close();
      }
    });
}
