import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createKlusterClient } from '/work/wt/run/packages/core/dist/index.js';
import { downloadFile } from '/work/wt/run/packages/core/dist/batch/download-file.js';
import { ResultTally } from '/work/wt/run/packages/core/dist/job/result-tally.js';
import { lineJudge } from '/work/wt/run/packages/core/dist/run/failure-cause.js';
import { createJoinPlan } from '/work/wt/run/packages/core/dist/join/join-plan.js';
const child = spawn(process.execPath, ['/work/wt/run/packages/cli/bin/kbatch.js', 'emulator', '--host', '127.0.0.1', '--port', '0', '--data-dir', '/tmp/p2/dlemu2'], { stdio: ['ignore', 'pipe', 'pipe'] });
const baseURL = await new Promise((res) => { let o = ''; const f = (d) => { o += d; const m = /http:\/\/127\.0\.0\.1:\d+\/v1/.exec(o); if (m) res(m[0]); }; child.stdout.on('data', f); child.stderr.on('data', f); });
const client = createKlusterClient({ apiKey: 'k', baseURL });
const f = await client.files.create({ file: new File([readFileSync('/tmp/p2/h6/job/results/part-00001.output.jsonl')], 'a.jsonl'), purpose: 'batch' });
const judge = lineJudge(createJoinPlan({ labels: ['positive', 'negative'] }));
for (const mode of ['plain','judge','plain','judge','plain','judge','plain','judge']) {
  const t = process.cpuUsage();
  await downloadFile(client.files, f.id, '/tmp/p2/dl-out.jsonl', mode === 'plain' ? {} : { inspect: () => { const tally = new ResultTally(false, mode === 'judge' ? judge : undefined); return (l, n) => tally.add(l, n, 'x'); } });
  const u = process.cpuUsage(t); console.log(mode, 'cpu ms', ((u.user + u.system) / 1000).toFixed(0));
}
child.kill();
