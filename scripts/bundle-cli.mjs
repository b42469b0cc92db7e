#!/usr/bin/env node
// Bundles the CLI into packages/cli/dist/bundle/ (see scripts/lib/cli-bundle.mjs). The root `build` script runs it
// after tsc -b, so `pnpm build` and `pnpm test` always leave a fresh bundle.
// Usage: node scripts/bundle-cli.mjs [--clean]   (--clean removes the bundle)
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BUNDLE_DIR, bundleCli } from './lib/cli-bundle.mjs';

const { values: args } = parseArgs({ options: { clean: { type: 'boolean', default: false } } });
if (args.clean) rmSync(BUNDLE_DIR, { recursive: true, force: true });
else await bundleCli();
