import { describe, it } from 'vitest';
import { chunkWriter, createKlusterClient, runJob } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const SIZE_RULE = 'must be a positive whole number of bytes, optionally with a unit (KB, MB, GB, KiB, MiB, GiB)';

// Options are checked before any request: the client points at a closed port.
const unsent = () => createKlusterClient({ env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: 'http://127.0.0.1:9/v1' } });

describe('MaxBytesSchema', () => {
  it.each([0, '0', -1, '6 parsecs'])('refuses maxBytes %j with the size rule, in runJob as in chunkWriter', async (maxBytes) => {
    const message = `Invalid option \`maxBytes\`: ${SIZE_RULE}`;
    expectKbatchError(await catchError(() => chunkWriter({ outDir: '/tmp', maxBytes })), { code: 'OPTION_INVALID', field: 'maxBytes', message });
    const run = catchError(() => runJob({ client: unsent(), input: [{ text: 'a' }], model: 'm', prompt: '{{text}}', maxBytes, jobDir: '/nonexistent/kbatch-job' }));
    expectKbatchError(await run, { code: 'OPTION_INVALID', field: 'maxBytes', message });
  });
});
