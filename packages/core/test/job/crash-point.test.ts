import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The built module (node runs it without a TypeScript loader); `pnpm build` first.
const MODULE = fileURLToPath(new URL('../../dist/job/crash-point.js', import.meta.url));

function run(env: Record<string, string>, later = '') {
  const script = `import(${JSON.stringify(MODULE)}).then((m) => { ${later} m.crashPoint('after-create'); process.stdout.write('alive'); })`;
  return spawnSync(process.execPath, ['-e', script], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8' });
}

describe('crashPoint', () => {
  it('ignores KBATCH_TEST_CRASH_AT unless KBATCH_TEST_HOOKS=1 is set too', () => {
    expect(run({ KBATCH_TEST_CRASH_AT: 'after-create' })).toMatchObject({ stdout: 'alive', signal: null });
  });

  it('reads the environment once, when the module loads: a variable set later arms nothing', () => {
    const later = `process.env.KBATCH_TEST_HOOKS = '1'; process.env.KBATCH_TEST_CRASH_AT = 'after-create'; console.assert(m.hasPausePoint('run-during-join') === false);`;
    expect(run({}, later)).toMatchObject({ stdout: 'alive', signal: null });
    expect(run({ KBATCH_TEST_HOOKS: '1', KBATCH_TEST_PAUSE_AT: 'run-during-join' }, `if (!m.hasPausePoint('run-during-join')) process.exit(7);`)).toMatchObject({ status: 0 });
  });

  it('kills the process at the named point when both are set', () => {
    expect(run({ KBATCH_TEST_CRASH_AT: 'after-create', KBATCH_TEST_HOOKS: '1' })).toMatchObject({ stdout: '', signal: 'SIGKILL' });
  });
});
