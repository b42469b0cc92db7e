import { isKbatchError, KbatchError } from '@kbatch/core';

/** `maxCompletionTokens` → `--max-completion-tokens`. */
export function flagName(option: string): string {
  // The run's `models` are a repeated --model.
  if (option === 'models') return '--model';
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * Run a core call and rename option names in OPTION_INVALID errors to the flags the user typed,
 * so "Invalid option `topP`" reads "Invalid option `--top-p`".
 * @param options - library option names that come from flags (others keep their name)
 */
export async function withFlagNames<T>(options: readonly string[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const [option, ...rest] = isKbatchError(err) && err.field !== undefined ? err.field.split('.') : [];
    if (isKbatchError(err) && err.code === 'OPTION_INVALID' && option !== undefined && options.includes(option)) {
      // logitBias.1234 → `--logit-bias 1234`
      const flag = [flagName(option), ...rest].join(' ');
      throw new KbatchError('OPTION_INVALID', err.message.replace(`\`${err.field!}\``, `\`${flag}\``), {
        field: flag,
        cause: err,
      });
    }
    throw err;
  }
}
