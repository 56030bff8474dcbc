/**
 * Versioned schema migrations, applied in order inside one transaction each; the database's
 * `user_version` records the last one applied. Never edit a released migration: append a new one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE sandboxes (
        id            TEXT PRIMARY KEY,
        container_id  TEXT NOT NULL,
        name          TEXT NOT NULL,
        key           TEXT,
        owner         TEXT NOT NULL,
        project       TEXT,
        image         TEXT NOT NULL,
        lifetime      TEXT NOT NULL,
        policy_hash   TEXT NOT NULL,
        spec_json     TEXT NOT NULL,
        labels_json   TEXT NOT NULL,
        state         TEXT NOT NULL,
        health        TEXT,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        last_seen_at  TEXT,
        vanished_at   TEXT
      );
      CREATE INDEX sandboxes_state ON sandboxes(state);
      CREATE INDEX sandboxes_key ON sandboxes(key);

      CREATE TABLE execs (
        id           TEXT PRIMARY KEY,
        sandbox_id   TEXT NOT NULL,
        command_json TEXT NOT NULL,
        mode         TEXT NOT NULL,
        started_at   TEXT NOT NULL,
        ended_at     TEXT,
        exit_code    INTEGER,
        duration_ms  INTEGER,
        killed_by    TEXT,
        stdout_tail  TEXT,
        stderr_tail  TEXT,
        actor        TEXT
      );
      CREATE INDEX execs_sandbox ON execs(sandbox_id, started_at);

      CREATE TABLE agent_runs (
        id              TEXT PRIMARY KEY,
        sandbox_id      TEXT,
        agent           TEXT NOT NULL,
        workspace       TEXT,
        prompt          TEXT NOT NULL,
        model           TEXT,
        flags_json      TEXT NOT NULL DEFAULT '[]',
        auth            TEXT NOT NULL,
        started_at      TEXT NOT NULL,
        ended_at        TEXT,
        status          TEXT,
        exit_code       INTEGER,
        duration_ms     INTEGER,
        session_id      TEXT,
        usage_json      TEXT,
        tool_calls_json TEXT,
        files_changed   TEXT,
        error           TEXT
      );
      CREATE INDEX agent_runs_started ON agent_runs(started_at);

      CREATE TABLE agent_run_events (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id  TEXT NOT NULL,
        at      TEXT NOT NULL,
        kind    TEXT NOT NULL,
        summary TEXT NOT NULL
      );
      CREATE INDEX agent_run_events_run ON agent_run_events(run_id, seq);

      CREATE TABLE egress_events (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        sandbox_id TEXT NOT NULL,
        ts         TEXT NOT NULL,
        method     TEXT NOT NULL,
        host       TEXT NOT NULL,
        port       INTEGER NOT NULL,
        path       TEXT NOT NULL,
        status     INTEGER NOT NULL,
        bytes_out  INTEGER NOT NULL,
        bytes_in   INTEGER NOT NULL,
        allowed    INTEGER NOT NULL,
        rule       TEXT NOT NULL,
        UNIQUE (sandbox_id, ts, method, host, port, path, status)
      );
      CREATE INDEX egress_events_sandbox ON egress_events(sandbox_id, ts);

      CREATE TABLE health_samples (
        sandbox_id    TEXT NOT NULL,
        ts            TEXT NOT NULL,
        status        TEXT NOT NULL,
        cpu_percent   REAL,
        memory_bytes  INTEGER,
        memory_limit  INTEGER,
        disk_percent  REAL,
        pids          INTEGER,
        PRIMARY KEY (sandbox_id, ts)
      );

      CREATE TABLE actions (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        ts         TEXT NOT NULL,
        actor      TEXT NOT NULL,
        action     TEXT NOT NULL,
        sandbox_id TEXT,
        detail_json TEXT
      );
      CREATE INDEX actions_sandbox ON actions(sandbox_id, ts);
    `,
  },
  {
    version: 2,
    name: 'named tokens',
    sql: `
      CREATE TABLE tokens (
        name         TEXT PRIMARY KEY,
        hash         TEXT NOT NULL UNIQUE,
        role         TEXT NOT NULL,
        labels_json  TEXT NOT NULL DEFAULT '{}',
        created_at   TEXT NOT NULL,
        last_used_at TEXT
      );
    `,
  },
];
