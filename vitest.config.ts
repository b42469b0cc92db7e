import { defineConfig } from 'vitest/config';

// Each package is a vitest project with its own config (name, timeouts).
export default defineConfig({
  test: {
    projects: ['packages/*'],
  },
});
