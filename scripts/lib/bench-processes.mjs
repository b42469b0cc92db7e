// Processes the benchmarks measure: `kbatch emulator` in its own process, and any command under GNU time.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

const TIME = '/usr/bin/time';

// `kbatch emulator` in its own process on 127.0.0.1 with instant batches; resolves once it prints its base URL.
export async function startEmulatorProcess(kbatch, dir) {
  const child = spawn(process.execPath, [kbatch, 'emulator', '--host', '127.0.0.1', '--port', '0',
    '--line-ms', '0', '--validation-ms', '0', '--finalizing-ms', '0', '--data-dir', join(dir, 'emulator')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const url = await new Promise((resolve, reject) => {
    const onData = (d) => {
      output += d;
      const m = /http:\/\/127\.0\.0\.1:\d+\/v1/.exec(output);
      if (m) resolve(m[0]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    exited.then((code) => reject(new Error(`kbatch emulator exited with ${code}:\n${output}`)));
  });
  child.stdout.resume();
  child.stderr.resume();
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  return { url, stop };
}

// Run a command under GNU time (output discarded); resolves with wall seconds, user/sys CPU seconds and peak RSS.
// Stderr is handed line by line to onStderrLine. sampleMemory: also the peaks of the process's anonymous and
// file-backed resident memory (RssAnon, RssFile: an LMDB map's pages are file-backed, reclaimable page cache), read
// from /proc every 200 ms (Linux; null elsewhere).
export function timed(dir, argv, { onStderrLine, sampleMemory = false } = {}) {
  const timeFile = join(dir, `time-${Math.random().toString(36).slice(2)}`);
  const startedAt = Date.now();
  const child = spawn(TIME, ['-o', timeFile, '-f', '%e %U %S %M', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let pending = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-20000);
    pending += d;
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) onStderrLine?.(line, child.pid);
  });
  const memory = { anonMb: null, fileMb: null };
  const sampler = sampleMemory ? setInterval(() => sampleRss(child.pid, memory), 200) : null;
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', async (code) => {
      const endedAt = Date.now();
      if (sampler) clearInterval(sampler);
      if (pending) onStderrLine?.(pending, child.pid);
      const text = await readFile(timeFile, 'utf8').catch(() => '');
      await rm(timeFile, { force: true });
      // kbatch run exits 3 when some records failed: still a measurement.
      if (code !== 0 && code !== 3) return reject(new Error(`${argv.join(' ')} exited with ${code}:\n${stderr.slice(-4000)}\n${text}`));
      const [seconds, user, sys, kb] = text.trim().split('\n').pop().split(' ').map(Number);
      resolve({ seconds, user, sys, cpu: user + sys, rssMb: kb / 1024, ...memory, startedAt, endedAt });
    });
  });
}

// The pid of the first child of `pid` (the command GNU time runs), from /proc (Linux); throws when unreadable.
export function childOf(pid) {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0]);
}

// Raise memory's peaks from the status of the process GNU time (timePid) runs; nothing when /proc cannot be read.
function sampleRss(timePid, memory) {
  try {
    const status = readFileSync(`/proc/${childOf(timePid)}/status`, 'utf8');
    const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1]);
    const [anon, file] = [kb('RssAnon'), kb('RssFile')];
    if (Number.isFinite(anon)) memory.anonMb = Math.max(memory.anonMb ?? 0, anon / 1024);
    if (Number.isFinite(file)) memory.fileMb = Math.max(memory.fileMb ?? 0, file / 1024);
  } catch {
    // not Linux, or the process is not started yet or already gone
  }
}

