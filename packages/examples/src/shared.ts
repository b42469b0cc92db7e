// Helpers shared by the examples (data paths, a local emulator for self-checking runs).
import { fileURLToPath } from 'node:url';

/** Absolute path of a file in packages/examples/data. */
export function dataPath(name: string): string {
  return fileURLToPath(new URL(`../data/${name}`, import.meta.url));
}
