// A throwaway PostgreSQL for the benchmarks, as the tests start theirs (packages/core/test/helpers/postgres.ts):
// Debian's initdb + pg_ctl in a temp dir on a loopback port, run as `postgres` when we are root. Null when absent.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = '/usr/lib/postgresql';

export async function startPostgresProcess() {
  const version = existsSync(ROOT) ? readdirSync(ROOT).filter((v) => existsSync(join(ROOT, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))[0] : undefined;
  if (version === undefined) return null;
  const bin = join(ROOT, version, 'bin');
  const asRoot = process.getuid?.() === 0;
  const pg = (tool, args) => (asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args));
  const owner = asRoot ? [Number((await run('id', ['-u', 'postgres'])).stdout), Number((await run('id', ['-g', 'postgres'])).stdout)] : null;
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-bench-pg-'));
  const data = join(dir, 'data');
  const stop = async () => {
    await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    if (process.env.KBATCH_BENCH_PG_KEEP_LOG) await run('cp', [join(dir, 'log'), process.env.KBATCH_BENCH_PG_KEEP_LOG]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  let port;
  try {
    if (owner) await chown(dir, owner[0], owner[1]);
    port = await freePort();
    await pg('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
    await pg('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '120', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off ${process.env.KBATCH_BENCH_PG_OPTIONS ?? ''}`, 'start']);
  } catch (error) {
    await stop();
    throw error;
  }
  // The postmaster's pid is the first line of postmaster.pid (for the bench's CPU figure of the server).
  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop, pid };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A benchmark's Postgres, or a message and exit 0 where Debian's binaries are absent (the figure is skipped, not failed). */
export async function startPostgresOrSkip() {
  const server = await startPostgresProcess();
  if (server !== null) return server;
  console.log('skipped: PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)');
  process.exit(0);
}
