// The benchmarks' timer: a command under GNU time (/usr/bin/time), for elapsed seconds, peak RSS and user+sys CPU.
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TIME = '/usr/bin/time';

/** Run a command under GNU time; resolves with elapsed seconds, peak RSS and user+sys CPU seconds. */
export function timedChild(argv, { stdin = 'ignore', stdout = 'ignore', capture = false } = {}) {
  const timeFile = join(tmpdir(), `kbatch-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const child = spawn(TIME, ['-o', timeFile, '-f', '%e %M %U %S', ...argv], {
    stdio: [typeof stdin === 'string' ? stdin : 'pipe', stdout, 'pipe'],
  });
  if (typeof stdin !== 'string') stdin.pipe(child.stdin);
  let stderr = '';
  let output = '';
  child.stderr.on('data', (d) => (stderr += d));
  // `capture` keeps what the command printed (a small output: the bench's JSON), as `stdout`.
  if (capture) child.stdout.on('data', (d) => (output += d));
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', async (code) => {
      const text = await readFile(timeFile, 'utf8').catch(() => '');
      await rm(timeFile, { force: true });
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited with ${code}:\n${stderr}\n${text}`));
      const [seconds, kb, user, sys] = text.trim().split('\n').pop().split(' ');
      resolve({ seconds: Number(seconds), rssMb: Number(kb) / 1024, cpuSeconds: Number(user) + Number(sys), stderr, stdout: output });
    });
  });
  return { child, done };
}

export function timed(argv, options) {
  return timedChild(argv, options).done;
}
