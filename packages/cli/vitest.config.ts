import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'cli',
    include: ['test/**/*.test.ts'],
    // A request cache of its own per test (never the user's).
    setupFiles: ['../core/test/helpers/isolated-cache.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
