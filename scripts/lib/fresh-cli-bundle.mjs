// vitest globalSetup: many tests spawn bin/kbatch.js, which runs the bundle; a targeted run after a bare `tsc -b`
// would test the code as it was at the last bundle, so rebuild it first when it is older than its inputs.
import { bundleCli, bundleStaleness } from './cli-bundle.mjs';

export default async function freshCliBundle() {
  const stale = bundleStaleness();
  if (stale === null) return;
  process.stderr.write(`CLI bundle out of date (${stale}): rebuilding it\n`);
  await bundleCli();
}
