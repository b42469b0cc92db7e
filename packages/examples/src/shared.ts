// Helpers shared by the examples (data paths, the built kbatch CLI).
import { fileURLToPath } from 'node:url';

/** Absolute path of a file in packages/examples/data. */
export function dataPath(name: string): string {
  return fileURLToPath(new URL(`../data/${name}`, import.meta.url));
}

/** The built `kbatch` CLI entry (packages/cli/bin/kbatch.js; run `pnpm build` first). */
export function kbatchBin(): string {
  return fileURLToPath(new URL('../../cli/bin/kbatch.js', import.meta.url));
}
