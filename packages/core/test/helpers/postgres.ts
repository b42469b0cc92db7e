// A throwaway PostgreSQL server for tests: Debian's binaries, initdb + pg_ctl in a temp dir, loopback port, no mocks.
import { execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = '/usr/lib/postgresql';

/** The newest installed PostgreSQL's bin directory (Debian's layout: not on PATH), or null. */
export function postgresBin(): string | null {
  const versions = existsSync(ROOT) ? readdirSync(ROOT).filter((v) => existsSync(join(ROOT, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return newest === undefined ? null : join(ROOT, newest, 'bin');
}

/** Set by CI (.ci/run): missing binaries or a server that cannot start fail the Postgres tests instead of skipping them. */
export const POSTGRES_REQUIRED = process.env['KBATCH_REQUIRE_POSTGRES'] === '1';

const MISSING = postgresBin() === null ? `PostgreSQL binaries not found under ${ROOT} (apt-get install postgresql)` : null;

/** Why the Postgres tests are skipped here (null: they run, or fail when required). CI installs `postgresql` (.ci/run). */
export const POSTGRES_SKIP_REASON: string | null = MISSING !== null && !POSTGRES_REQUIRED ? `${MISSING}: Postgres tests skipped` : null;
if (POSTGRES_SKIP_REASON) console.warn(POSTGRES_SKIP_REASON);

/** A running throwaway server: a connection URL (user postgres, trust auth) and how to stop it (data removed). */
export interface TestPostgres {
  url: string;
  stop(): Promise<void>;
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });

/**
 * Start a server in a fresh temp dir on a free loopback port (fsync off: tests need speed, not crash safety). As root
 * the binaries run as the `postgres` user (they refuse root), so the dir is handed to it. A detached watchdog, started
 * before initdb, stops the server and removes the dir once this process is gone, however it ends (postgres has no
 * parent-death option); a failed start stops whatever started, then removes the dir.
 * @throws when the binaries are missing (check {@link POSTGRES_SKIP_REASON} first) or the server does not start
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  if (bin === null) throw new Error(MISSING!);
  const asRoot = process.getuid?.() === 0;
  // As root, the `postgres` user must exist before anything is made (its absence is a reason to skip, not a leak).
  const owner = asRoot ? await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]) : null;
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-pg-'));
  const data = join(dir, 'data');
  const pgCtl = `${asRoot ? 'runuser -u postgres -- ' : ''}'${join(bin, 'pg_ctl')}'`;
  const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; [ -d '${data}' ] && ${pgCtl} -D '${data}' -m immediate -w stop; rm -rf '${dir}'`], { detached: true, stdio: 'ignore' });
  watchdog.unref();
  const pg = (tool: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args));
  const stop = async () => {
    await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    watchdog.kill();
  };
  try {
    if (owner) await chown(dir, Number(owner[0].stdout), Number(owner[1].stdout));
    await chmod(dir, 0o700);
    const port = await freePort();
    const settings = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
    await pg('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
    await pg('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '120', '-o', settings, 'start']);
    return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop };
  } catch (error) {
    // A start that timed out may have left the server running: stopped before its dir goes.
    await stop();
    throw error;
  }
}

/**
 * {@link startPostgres}, or why the server cannot start here (the binaries exist but, e.g., there is no `postgres`
 * user as root): the tests then skip with that reason, unless {@link POSTGRES_REQUIRED}, when the error is thrown.
 */
export async function startPostgresOrReason(): Promise<TestPostgres | string> {
  try {
    return await startPostgres();
  } catch (error) {
    if (POSTGRES_REQUIRED) throw error;
    const reason = `PostgreSQL could not start here (${(error as Error).message.split('\n')[0]}): Postgres tests skipped`;
    console.warn(reason);
    return reason;
  }
}
