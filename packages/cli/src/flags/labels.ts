/**
 * `--labels a,b,c` as a list, the same for `run` and `join`: each label trimmed, empty ones dropped
 * (`a,,b,` is `a,b`: a trailing or doubled comma is a typo, and an empty label could never be answered).
 * @example parseLabels(' positive, negative,,') // ['positive', 'negative']
 */
export function parseLabels(list: string): string[] {
  return list
    .split(',')
    .map((label) => label.trim())
    .filter((label) => label !== '');
}
