import type { z } from 'zod';
import { KbatchError } from '../errors.js';

/**
 * Parse the text of a state file against its schema.
 * @param what - what the file should be, for the message ("manifest", "run state")
 * @throws KbatchError JOB_INVALID when it is not JSON or not a valid `what`
 */
export function parseStateFile<S extends z.ZodType>(file: string, text: string, schema: S, what: string): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new KbatchError('JOB_INVALID', `${file} is not valid JSON`, { file, cause });
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new KbatchError('JOB_INVALID', `${file} is not a kbatch ${what}: \`${issue.path.join('.')}\` ${issue.message}`, { file, cause: result.error });
  }
  return result.data;
}
