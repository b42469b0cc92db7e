import { randomBytes } from 'node:crypto';

/** A fresh object id such as `batch_3f2a…` (ids need not be reproducible; orders and faults are seeded). */
export const newId = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`;

/** Unix seconds. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);
