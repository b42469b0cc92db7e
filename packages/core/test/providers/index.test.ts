import { describe, expect, it } from 'vitest';
import * as core from '../../src/index.js';
import * as internal from '../../src/internal.js';

// Engine helpers the CLI needs are not user API: they live in @kbatch/core/internal, which may change.
const ENGINE = ['lintLine', 'newLintState', 'checkRecordedProvider', 'checkWindow', 'clientProvider', 'formatLintProblem'];

describe('the providers area on the barrels', () => {
  it('keeps engine helpers off the public API and on @kbatch/core/internal', () => {
    for (const name of ENGINE) {
      expect(core, name).not.toHaveProperty(name);
      expect(internal, name).toHaveProperty(name);
    }
    for (const name of ['getProvider', 'lintRequests', 'lintRules', 'assertLintClean', 'PROVIDER_PROFILES', 'createClient']) expect(core, name).toHaveProperty(name);
  });
});
