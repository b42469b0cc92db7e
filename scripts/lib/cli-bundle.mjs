// The CLI bundle (packages/cli/dist/bundle/kbatch.js, loaded by bin/kbatch.js): packages/cli/dist/main.js and the
// workspace code and small dependencies it imports, as tsc -b built them, in one file (plus lazily loaded chunks).
// A process then parses a few files instead of resolving ~600 modules: --version costs ~0.45 s CPU (user+sys) instead
// of ~1.1 s.
import { existsSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'packages/cli');
export const BUNDLE_DIR = join(cli, 'dist/bundle');
const BUNDLE = join(BUNDLE_DIR, 'kbatch.js');
// What the bundle is built from: the workspace packages' tsc output (and the lockfile, for their dependencies).
const INPUT_DIRS = ['cli', 'core', 'emulator'].map((name) => join(root, 'packages', name, 'dist'));

// Left to node_modules: loaded lazily by one command (import()), native (lmdb), or reading files beside themselves
// (vega, by createRequire(import.meta.url) in write-report). Each must resolve from the bundle (checked below).
// openai is bundled: every start loads it (core imports it statically) and, external, its ~150 modules cost ~0.1 s
// CPU a process; it reads no file of its own. @google/genai is not imported at run time.
export const EXTERNAL = ['lmdb', 'pg', 'pg-boss', 'vega', 'vega-lite', 'gpt-tokenizer', 'llama3-tokenizer-js', '@anthropic-ai/sdk'];

const isExternal = (id) => EXTERNAL.some((name) => id === name || id.startsWith(`${name}/`));

// tsc's maps go in, so the bundle's map leads to the TypeScript sources rather than to dist/*.js.
const tscMaps = {
  name: 'tsc-source-maps',
  load: {
    filter: { id: /[\\/]packages[\\/][^\\/]+[\\/]dist[\\/].*\.js$/ },
    handler(id) {
      const map = `${id}.map`;
      return existsSync(map) ? { code: readFileSync(id, 'utf8'), map: readFileSync(map, 'utf8') } : null;
    },
  },
};

/**
 * Build the bundle afresh in a sibling directory, then swap it in: a kbatch already running from the old bundle (a
 * test run beside a build) keeps its files until the swap, and a failed build leaves the old bundle as it was.
 */
export async function bundleCli() {
  checkExternalsResolve();
  const { build } = await import('rolldown');
  const next = `${BUNDLE_DIR}.next-${process.pid}`;
  const old = `${BUNDLE_DIR}.old-${process.pid}`;
  rmSync(next, { recursive: true, force: true });
  try {
    const { output } = await build(options(next));
    writeFileSync(join(next, 'THIRD-PARTY-LICENSES.txt'), thirdPartyLicenses(output));
    if (existsSync(BUNDLE_DIR)) renameSync(BUNDLE_DIR, old);
    renameSync(next, BUNDLE_DIR);
  } finally {
    rmSync(next, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
}

/** The licence texts of the packages the bundle inlines (their notices must travel with their code). */
function thirdPartyLicenses(output) {
  const packages = new Map();
  for (const chunk of output) {
    for (const id of Object.keys(chunk.modules ?? {})) {
      const dir = packageRoot(id);
      if (dir !== null && !packages.has(dir)) packages.set(dir, JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')));
    }
  }
  const sections = [...packages].sort(([, a], [, b]) => a.name.localeCompare(b.name)).map(([dir, pkg]) => {
    const file = readdirSync(dir).find((name) => /^(licen[cs]e|copying)/i.test(name));
    const text = file === undefined ? `(no licence file; package.json says ${pkg.license ?? 'nothing'})` : readFileSync(join(dir, file), 'utf8').trim();
    return `${pkg.name}@${pkg.version} (${pkg.license ?? 'unknown'})\n\n${text}`;
  });
  return `Packages bundled into the kbatch CLI (packages/cli/dist/bundle), with their licences.\n\n${sections.join(`\n\n${'-'.repeat(78)}\n\n`)}\n`;
}

/** The directory of the npm package a bundled module belongs to (its last node_modules segment), or null for ours. */
function packageRoot(id) {
  const at = id.lastIndexOf('/node_modules/');
  if (at < 0) return null;
  const parts = id.slice(at + '/node_modules/'.length).split('/');
  return join(id.slice(0, at), 'node_modules', ...parts.slice(0, parts[0].startsWith('@') ? 2 : 1));
}

function options(dir) {
  return {
    input: join(cli, 'dist/main.js'),
    platform: 'node',
    external: isExternal,
    plugins: [tscMaps],
    // A warning fails the build: an import rolldown cannot resolve would be left external and fail at run time.
    onLog: (level, log, handler) => handler(level === 'warn' ? 'error' : level, log),
    output: {
      dir,
      format: 'esm',
      entryFileNames: 'kbatch.js',
      chunkFileNames: 'chunk-[name]-[hash].js',
      // Not loaded unless NODE_OPTIONS=--enable-source-maps (it would cost every start ~0.04 s CPU).
      sourcemap: true,
      // The sources are in the checkout; the map points at them.
      sourcemapExcludeSources: true,
    },
  };
}

/**
 * Why the bundle is older than what it is built from, or null when it is fresh or there is nothing to bundle yet (no
 * tsc output). The rule bin/kbatch.js applies: a package's dist/.tsbuildinfo (rewritten by every tsc -b that emits)
 * newer than the bundle; and the lockfile, for the dependencies inlined.
 */
export function bundleStaleness() {
  if (!existsSync(join(cli, 'dist/main.js'))) return null;
  if (!existsSync(BUNDLE)) return 'no bundle';
  const built = statSync(BUNDLE).mtimeMs;
  const inputs = [...INPUT_DIRS.map((dir) => join(dir, '.tsbuildinfo')), join(root, 'pnpm-lock.yaml')];
  const newer = inputs.find((file) => existsSync(file) && statSync(file).mtimeMs > built);
  return newer === undefined ? null : `${newer} is newer`;
}

/**
 * An external is imported from the bundle's place (packages/cli/dist/bundle): it must resolve there, and to the copy
 * core resolves (packages/cli lists the runtime dependencies of core that the bundle leaves out).
 */
function checkExternalsResolve() {
  const wrong = [];
  for (const name of EXTERNAL) {
    const [a, b] = [packageDir(BUNDLE_DIR, name), packageDir(join(root, 'packages/core'), name)];
    if (a === null || a !== b) wrong.push(`${name}: from the bundle ${a ?? 'not found'}, from core ${b ?? 'not found'}`);
  }
  if (wrong.length > 0) {
    throw new Error(`an external of the CLI bundle must resolve from it to core's copy (list it in packages/cli/package.json dependencies with core's range):\n  ${wrong.join('\n  ')}`);
  }
}

/** The real directory of package `name` as node finds it from `from` (node_modules up the tree), or null. */
function packageDir(from, name) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(candidate)) return realpathSync(dirname(candidate));
    if (dirname(dir) === dir) return null;
  }
}
