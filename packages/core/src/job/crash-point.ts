const hits = new Map<string, number>();

/**
 * TEST-ONLY crash hook. When `KBATCH_TEST_HOOKS=1` and `KBATCH_TEST_CRASH_AT` names this point (optionally
 * `name:N` for the N-th hit), the process SIGKILLs itself right there, so tests can prove that a job survives a
 * crash at that exact moment. Both variables are required, so a stray one can never kill a production run.
 * Points: after-upload-unrecorded (the server has the file, its id is not saved), after-upload, after-create (between batches.create and the manifest write), during-wait, during-download,
 * after-file-delete (a finished part's input file deleted and recorded), after-resubmit-part (an expired batch's leftovers written and recorded in memory, not saved),
 * after-straggler-mark (straggler decision saved, cancel not sent), after-straggler-cancel (cancel sent, not recorded);
 * runJob adds run-after-prepare, run-after-add-retries, run-after-straggler-plan, run-during-realtime, run-after-realtime, run-during-join.
 */
export function crashPoint(name: string): void {
  if (process.env['KBATCH_TEST_HOOKS'] !== '1') return;
  const spec = process.env['KBATCH_TEST_CRASH_AT'];
  if (!spec) return;
  const [point, nth] = spec.split(':');
  if (point !== name) return;
  const count = (hits.get(name) ?? 0) + 1;
  hits.set(name, count);
  if (count >= Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
}
