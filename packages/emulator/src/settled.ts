// For tests of clients that stop mid-run: requests a killed or aborted client had in flight still land.
import type { Emulator } from './server.js';

/**
 * Wait until the emulator has no chat request in flight and has counted no new one for `quietMs` (polled every
 * 10 ms, at most `maxMs`), so requests a stopped client had in flight are counted before a test measures what a
 * rerun sends.
 * @returns the chat request count then
 * @example
 * const before = await chatSettled(emu);
 * await rerun();
 * expect(emu.stats().chatRequests - before).toBe(unanswered);
 */
export async function chatSettled(emulator: Pick<Emulator, 'stats'>, options: { quietMs?: number; maxMs?: number } = {}): Promise<number> {
  const quietPolls = Math.ceil((options.quietMs ?? 80) / 10);
  const maxPolls = Math.ceil((options.maxMs ?? 5_000) / 10);
  let last = -1;
  for (let stable = 0, i = 0; stable < quietPolls && i < maxPolls; i++) {
    const { chatRequests: now, chatInFlight } = emulator.stats();
    stable = now === last && chatInFlight === 0 ? stable + 1 : 0;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return last;
}
