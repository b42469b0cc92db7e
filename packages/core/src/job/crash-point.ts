const hits = new Map<string, number>();

// Read once at load: the hooks sit on hot paths (every joined row), where a disabled one must cost nothing.
const HOOKS = process.env['KBATCH_TEST_HOOKS'] === '1';
const CRASH_AT = HOOKS ? parseSpec(process.env['KBATCH_TEST_CRASH_AT']) : null;
const PAUSE_AT = HOOKS ? parseSpec(process.env['KBATCH_TEST_PAUSE_AT']) : null;

function parseSpec(spec: string | undefined): { point: string; nth: number } | null {
  if (!spec) return null;
  const [point, nth] = spec.split(':');
  return { point: point!, nth: Number(nth ?? 1) };
}

/**
 * TEST-ONLY crash hook. When `KBATCH_TEST_HOOKS=1` and `KBATCH_TEST_CRASH_AT` names this point (optionally
 * `name:N` for the N-th hit), the process SIGKILLs itself right there, so tests can prove that a job survives a
 * crash at that exact moment. Both variables are required, so a stray one can never kill a production run; both are
 * read when the module loads.
 * Points: after-upload-unrecorded (the server has the file, its id is not saved), after-upload, after-quota-slot (a shared quota's slot held, no create intent saved), before-create-sent (the create's intent saved, the call not made), after-create (between batches.create and the manifest write), during-wait, during-download,
 * after-file-delete (a finished part's input file deleted and recorded), after-resubmit-part (an expired batch's leftovers written and recorded in memory, not saved),
 * after-straggler-mark (straggler decision saved, cancel not sent), after-straggler-cancel (cancel sent, not recorded);
 * runJob adds run-after-prepare, run-after-add-retries, run-after-straggler-plan, run-during-realtime, run-after-realtime, run-during-join.
 * A worker adds worker-before-commit (a step completed and the next queued, the transaction not committed).
 */
export function crashPoint(name: string): void {
  if (CRASH_AT === null || CRASH_AT.point !== name) return;
  const count = (hits.get(name) ?? 0) + 1;
  hits.set(name, count);
  if (count >= CRASH_AT.nth) process.kill(process.pid, 'SIGKILL');
}

/** True when {@link pausePoint} `name` is armed (so a hot loop can skip awaiting it otherwise). */
export function hasPausePoint(name: string): boolean {
  return PAUSE_AT !== null && PAUSE_AT.point === name;
}

const pauses = new Map<string, number>();

/**
 * TEST-ONLY pause hook. When `KBATCH_TEST_HOOKS=1` and `KBATCH_TEST_PAUSE_AT` names this point (optionally `name:N`),
 * the N-th hit writes `kbatch-test: paused at NAME` to stderr and waits until `signal` aborts, so a test can send a
 * real SIGINT/SIGTERM at that exact moment. Point: run-during-join (after the first row is written).
 */
export async function pausePoint(name: string, signal: AbortSignal | undefined): Promise<void> {
  if (!hasPausePoint(name) || !signal) return;
  const count = (pauses.get(name) ?? 0) + 1;
  pauses.set(name, count);
  if (count !== PAUSE_AT!.nth || signal.aborted) return;
  process.stderr.write(`kbatch-test: paused at ${name}\n`);
  // A signal listener does not keep the process alive: a timer does, until the signal arrives.
  const alive = setInterval(() => {}, 60_000);
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  clearInterval(alive);
}
