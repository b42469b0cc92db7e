import { open } from 'lmdb';
import { randomBytes } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
const [n, every, size, sorted] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), process.argv[5] === 'sorted'];
rmSync('/tmp/p12/lm.db', { force: true, recursive: true });
const db = open({ path: '/tmp/p12/lm.db', keyEncoding: 'binary', encoding: 'binary', compression: false });
const keys = randomBytes(32 * n);
let peak = 0; const iv = setInterval(() => { const m = process.memoryUsage(); peak = Math.max(peak, m.rss); }, 50);
const t0 = process.cpuUsage(); const w0 = Date.now();
let last;
for (let b = 0; b < n; b += every) {
  let idx = []; for (let i = b; i < Math.min(n, b + every); i++) idx.push(keys.subarray(32*i, 32*i+32));
  if (sorted) idx.sort(Buffer.compare);
  for (const k of idx) { const v = Buffer.allocUnsafe(size); v.fill(7); last = db.put(k, v); }
  await last;
}
await db.flushed; clearInterval(iv);
const u = process.cpuUsage(t0);
console.log(n, every, size, sorted?'sorted':'random', 'user', (u.user/1e6).toFixed(2), 'sys', (u.system/1e6).toFixed(2), 'wall', (Date.now()-w0)/1000, 'peak rss MB', (peak/1e6).toFixed(0), 'file MB', (statSync('/tmp/p12/lm.db').size/1e6).toFixed(0));
await db.close();
