#!/usr/bin/env node
// Runs the CLI bundle `pnpm build` writes (scripts/bundle-cli.mjs): a few files to load instead of ~600 modules.
// After a bare `tsc -b` the bundle is older than the tsc output (each package's dist/.tsbuildinfo, rewritten by every
// rebuild): the tsc output is run then, slower to start but never stale. Absent files (a published package has no
// sibling workspace packages) do not count.
import { statSync } from 'node:fs';

const mtime = (path) => statSync(new URL(path, import.meta.url), { throwIfNoEntry: false })?.mtimeMs;
const bundled = mtime('../dist/bundle/kbatch.js');
const built = ['../dist/.tsbuildinfo', '../../core/dist/.tsbuildinfo', '../../emulator/dist/.tsbuildinfo'].map(mtime).filter((t) => t !== undefined);
const fresh = bundled !== undefined && built.every((t) => t <= bundled);
await import(fresh ? '../dist/bundle/kbatch.js' : '../dist/main.js');
