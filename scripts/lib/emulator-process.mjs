// The emulator in a child process for the memory benchmarks: its own RSS is then measured alone (Linux /proc).
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';

/**
 * Start `startEmulator(options)` from the emulator build at `emulatorUrl` in a child process; SIGTERM closes it.
 * @returns the child and the emulator's base URL
 */
export async function startEmulatorProcess(emulatorUrl, options = {}) {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', `const { startEmulator } = await import(${JSON.stringify(emulatorUrl)});
const emu = await startEmulator(${JSON.stringify(options)});
process.stdout.write(emu.baseURL + '\\n');
process.on('SIGTERM', () => emu.close().then(() => process.exit(0)));`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const baseURL = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(String(d).trim()));
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  return { child, baseURL };
}

/** A process's RSS now, its peak RSS (VmHWM) and its CPU seconds (user+sys) so far. */
export async function processUsage(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) * 1024;
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), cpu: (Number(stat[11]) + Number(stat[12])) / 100 };
}

/** Reset a process's peak RSS, so VmHWM measures what follows only (Linux: writing 5 to clear_refs resets VmHWM). */
export const resetPeak = (pid) => writeFile(`/proc/${pid}/clear_refs`, '5').catch(() => undefined);
