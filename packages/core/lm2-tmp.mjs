import { open } from 'lmdb';
import { randomBytes } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
const [n, every, size, pre] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5] ?? 0)];
rmSync('/tmp/p12/lm.db', { force: true, recursive: true });
const db = open({ path: '/tmp/p12/lm.db', keyEncoding: 'binary', encoding: 'binary', compression: false });
// optional pre-existing entries (another job's), random, inserted before timing
if (pre) { const pk = randomBytes(32*pre); for (let b=0;b<pre;b+=100000){ const idx=[]; for(let i=b;i<Math.min(pre,b+100000);i++) idx.push(pk.subarray(32*i,32*i+32)); idx.sort(Buffer.compare); await db.transaction(()=>{ for (const k of idx) db.put(k, Buffer.alloc(size,1)); }); } }
const keys = randomBytes(32 * n);
const idx = []; for (let i = 0; i < n; i++) idx.push(keys.subarray(32*i, 32*i+32));
idx.sort(Buffer.compare);
let peak = 0; const iv = setInterval(() => { const m = process.memoryUsage(); peak = Math.max(peak, m.rss); }, 50);
const t0 = process.cpuUsage(); const w0 = Date.now(); const f0 = statSync('/tmp/p12/lm.db').size;
let last;
for (let b = 0; b < n; b += every) {
  for (let i = b; i < Math.min(n, b + every); i++) { const v = Buffer.allocUnsafe(size); v.fill(7); last = db.put(idx[i], v); }
  await last;
}
await db.flushed; clearInterval(iv);
const u = process.cpuUsage(t0);
console.log(n, every, size, 'pre', pre, 'user', (u.user/1e6).toFixed(2), 'sys', (u.system/1e6).toFixed(2), 'wall', (Date.now()-w0)/1000, 'peak rss MB', (peak/1e6).toFixed(0), 'file MB', (f0/1e6).toFixed(0), '->', (statSync('/tmp/p12/lm.db').size/1e6).toFixed(0));
await db.close();
