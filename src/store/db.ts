import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { WardenError } from '../errors.js';
import { MIGRATIONS, type Migration } from './migrations.js';

export type Db = Database.Database;

/**
 * Open (or create) the state database: WAL so readers never block the writer, a busy timeout so a
 * second process waits instead of failing, then every pending migration in its own transaction.
 */
export function openDatabase(file: string, migrations: Migration[] = MIGRATIONS): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let db: Db;
  try {
    db = new Database(file);
  } catch (err) {
    throw new WardenError('STORE_ERROR', `cannot open the state database ${file}: ${(err as Error).message}; check WARDEN_HOME and its permissions (it must be writable by uid ${process.getuid?.() ?? '?'}; Warden in Docker: chown the host's ./data to that uid, which scripts/docker-start.sh does)`, { cause: err });
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db, migrations);
  return db;
}

/** Apply the migrations newer than the database's `user_version`; refuse a database from a newer Warden. */
export function migrate(db: Db, migrations: Migration[] = MIGRATIONS): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new WardenError('STORE_ERROR', `the state database is at schema version ${current}, newer than this Warden knows (${latest}); upgrade Warden or use another WARDEN_HOME`);
  }
  let applied = 0;
  for (const m of migrations.filter((x) => x.version > current).sort((a, b) => a.version - b.version)) {
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
    applied++;
  }
  return applied;
}
