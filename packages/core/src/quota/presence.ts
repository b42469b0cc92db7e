import { randomInt } from 'node:crypto';
import type { Client, Pool } from 'pg';
import { asError, giveBack, listen, once } from '../state/postgres-store.js';

/** The first key of every presence lock (the two-int4 advisory lock form: `classid` in pg_locks). "kbqt". */
const PRESENCE_CLASS = 0x6b627174;

/**
 * A process's presence in the database: a session advisory lock (PRESENCE_CLASS, owner) held on a connection of its
 * own with TCP keepalive. The server frees it when the process dies or its machine vanishes (about 2 minutes), so
 * every process can tell a slot's owner is gone without heartbeats, and a reused backend pid cannot fake it.
 */
export interface Presence {
  /** This process's owner id (random, unique among live owners). */
  readonly owner: number;
  /** True once the connection ended: the owner reads as gone to others (open a new presence). */
  readonly lost: boolean;
  close(): Promise<void>;
}

/** Take a presence lock on a connection of `sessions` (a pool of dedicated keepalive connections: see openSessionPool). */
export async function openPresence(sessions: Pick<Pool, 'connect'>): Promise<Presence> {
  const client = await sessions.connect();
  const state = { lost: false };
  const stopListening = listen(client, () => void (state.lost = true));
  try {
    for (;;) {
      const owner = randomInt(1, 2 ** 31 - 1);
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::int, $2::int) AS ok', [PRESENCE_CLASS, owner]);
      if (rows[0]!.ok) {
        return {
          owner,
          get lost() {
            return state.lost;
          },
          // Unlocked (or its connection dropped) before it resolves: the owner reads as gone from then on.
          // Still listened to while it unlocks: a checked-out client's error with no listener would end the process.
          close: once(async () => {
            await giveBack(client, state.lost);
            stopListening();
          }),
        };
      }
    }
  } catch (error) {
    stopListening();
    client.release(asError(error));
    throw error;
  }
}

/** The owners whose presence lock is held in this database now. */
export async function liveOwners(db: Pick<Pool, 'query'> | Pick<Client, 'query'>): Promise<Set<number>> {
  const { rows } = await db.query<{ owner: string }>(
    `SELECT objid::bigint AS owner FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = $1::bigint::oid
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [PRESENCE_CLASS],
  );
  return new Set(rows.map((r) => Number(r.owner)));
}
