import { defineConfig } from 'vitest/config';

// Each package is a vitest project with its own config (name, timeouts).
// Two files at a time: most tests wait on child processes, emulators and Postgres, so one worker (vitest's default
// on 2 cores) left a core idle (load ~1.6) and the suite took 939 s; two keep it under CI's 15 minutes.
export default defineConfig({
  test: {
    projects: ['packages/*'],
    maxWorkers: 2,
    // Tests spawn bin/kbatch.js: never against a CLI bundle older than the tsc output.
    globalSetup: ['scripts/lib/fresh-cli-bundle.mjs'],
  },
});
