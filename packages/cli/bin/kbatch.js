#!/usr/bin/env node
// Runs the CLI bundle `pnpm build` writes (scripts/bundle-cli.mjs): a few files to load instead of ~600 modules.
import { fileURLToPath } from 'node:url';

const bundle = new URL('../dist/bundle/kbatch.js', import.meta.url);
import(bundle.href).catch((err) => {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || err.url !== bundle.href) throw err;
  process.stderr.write(`kbatch: ${fileURLToPath(bundle)} is missing: run \`pnpm build\` (it bundles the CLI after tsc -b)\n`);
  process.exitCode = 1;
});
