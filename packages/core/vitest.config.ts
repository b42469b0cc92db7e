import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'core',
    include: ['test/**/*.test.ts'],
    // A request cache of its own per test (never the user's).
    setupFiles: ['./test/helpers/isolated-cache.ts'],
    // Type tests (*.test-d.ts) are checked by tsc, not run.
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.typecheck.json' },
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
