import type { JobPart } from '../state/manifest.js';
import type { JobContext } from '../job/context.js';
import type { PartLoad } from './part-load.js';

/** What {@link PartQuota.acquire} answered for one part. */
export interface QuotaAnswer {
  /** The part's batch may be created now (its slot is held). */
  granted: boolean;
  /** The quota key: provider / API key fingerprint / model. */
  key: string;
  load: PartLoad;
  /** The estimated tokens the key may have enqueued (undefined: no limit; the slot is still recorded). */
  limit: number | undefined;
  enqueued: { tokens: number; requests: number; batches: number };
  /** Waiting parts ahead of this one. */
  ahead: number;
  /** This process had not been refused for this part before. */
  firstRefusal: boolean;
  /** Jobs of gone processes whose slot counts with no batch id known: a resume of each settles it. */
  unsettled: string[];
  /** Jobs holding a batch created with no limit (tokens not counted): each fills the limit until its batch ends. */
  uncounted: string[];
}

/**
 * The job's share of a provider quota common to every job and process (see quota/postgres-quota.ts): a part takes a
 * slot before its create's intent is recorded and gives it back once its batch is seen ended.
 */
export interface PartQuota {
  /**
   * Record the part's slot (its place in line) and hold it when its batch fits: true when the batch may be created
   * now, else the part keeps its place and asks again after `retryMs`. Idempotent per part. `force`: keep its slot held
   * when it still is (the part's create may already have been sent, so its batch may be enqueued whatever the limit); a
   * slot given back or dropped is not taken again by force: the part waits in line like a new one, and its adoption
   * scan runs once it has the slot (a batch found is adopted, not created twice).
   */
  acquire(part: JobPart, options: { force: boolean }): Promise<QuotaAnswer>;
  /**
   * Once the create's intent is saved, before it is sent: whether the part's slot is still held (and now owned by this
   * process). False when another process dropped it meanwhile (this one's presence read as gone): the part waits in
   * line again rather than create beside a batch granted in its place.
   */
  confirm(part: JobPart): Promise<boolean>;
  /** Give the part's slot back (its batch ended, or it will create none). */
  release(part: JobPart): Promise<void>;
  /** Give back the slots of parts that are done or never sent a create, drop this process's places in line, disconnect. */
  close(parts: readonly JobPart[]): Promise<void>;
  /** How long a refused part waits before asking again (ms). */
  readonly retryMs: number;
}

/**
 * The part's turn under the job's quota (true at once without one): emits a warning naming what it waits for the
 * first time it is refused, and records the part's estimated tokens in the manifest when they had to be read (a key
 * with a limit; without one they are not counted).
 */
export async function quotaTurn(ctx: JobContext, part: JobPart): Promise<boolean> {
  const quota = ctx.quota;
  if (quota === undefined) return true;
  const answer = await quota.acquire(part, { force: part.createStartedAt !== undefined });
  if (part.promptTokens === undefined && answer.load.tokens !== undefined) {
    part.promptTokens = answer.load.tokens;
    await ctx.store.save();
  }
  const { limit, enqueued, load, ahead } = answer;
  if (answer.granted && limit !== undefined && load.tokens !== undefined && load.tokens > limit) {
    ctx.emit({ type: 'warning', part: part.index, message: `part ${part.index}'s ${load.tokens} estimated tokens are more than the whole quota of ${answer.key} (${limit}): its batch runs alone` });
  }
  if (!answer.granted && answer.firstRefusal) {
    const turn = ahead > 0 ? `${ahead} part${ahead === 1 ? '' : 's'} ahead in line` : `its ${load.tokens} do not fit`;
    // A stopped job whose create may have been sent counts until its window ends, unless it is resumed.
    const settle = answer.unsettled.map((job) => `; job ${job} stopped after sending a create and holds its share: kbatch resume ${job} settles it`).join('');
    // Its tokens are unknown, so it may hold the whole quota: it is waited for rather than counted as 0.
    const unknown = answer.uncounted.map((job) => `; job ${job} has a batch created with no limit in place, its tokens not counted: it fills the limit until it ends`).join('');
    ctx.emit({
      type: 'warning',
      part: part.index,
      message: `part ${part.index} waits for the shared quota of ${answer.key}: ${enqueued.tokens} of ${limit} estimated tokens enqueued by ${enqueued.batches} batch${enqueued.batches === 1 ? '' : 'es'}, ${turn}${settle}${unknown}`,
    });
  }
  return answer.granted;
}
