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

/** Why the Postgres tests are skipped here (null: they run). CI installs `postgresql` (.ci/run). */
export const POSTGRES_SKIP_REASON: string | null = postgresBin() === null ? `PostgreSQL binaries not found under ${ROOT} (apt-get install postgresql): Postgres tests skipped` : null;
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
 * the binaries run as the `postgres` user (they refuse root), so the dir is handed to it.
 * @throws when the binaries are missing (check {@link POSTGRES_SKIP_REASON} first) or the server does not start
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  if (bin === null) throw new Error(POSTGRES_SKIP_REASON!);
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout), Number(gid));
  }
  await chmod(dir, 0o700);
  const pg = (tool: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args));
  const data = join(dir, 'data');
  const port = await freePort();
  const settings = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  try {
    await pg('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
    await pg('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '120', '-o', settings, 'start']);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  // A test process that ends without stop() (a hook timed out, a kill) must not leave its server running: a detached
  // watchdog stops it once this process is gone (postgres has no parent-death option).
  const stopArgs = `${asRoot ? 'runuser -u postgres -- ' : ''}'${join(bin, 'pg_ctl')}' -D '${data}' -m immediate -w stop`;
  const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${stopArgs}; rm -rf '${dir}'`], { detached: true, stdio: 'ignore' });
  watchdog.unref();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      watchdog.kill();
      await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
