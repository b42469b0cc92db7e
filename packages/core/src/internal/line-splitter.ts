/** Splits a byte stream into lines (without the `\n`, and without a `\r` before it). */
export class LineSplitter {
  private rest: Buffer | undefined;

  /** The complete lines in `chunk` (plus a carried-over partial line). */
  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    let lf = chunk.indexOf(10);
    if (this.rest !== undefined) {
      // Only the line that spans chunks is copied; the others are views of `chunk`.
      if (lf === -1) {
        this.rest = Buffer.concat([this.rest, chunk]);
        return lines;
      }
      const joined = Buffer.concat([this.rest, chunk.subarray(0, lf)]);
      this.rest = undefined;
      lines.push(joined.length > 0 && joined[joined.length - 1] === 13 ? joined.subarray(0, -1) : joined);
      start = lf + 1;
      lf = chunk.indexOf(10, start);
    }
    for (; lf !== -1; lf = chunk.indexOf(10, start)) {
      lines.push(chunk.subarray(start, lf > start && chunk[lf - 1] === 13 ? lf - 1 : lf));
      start = lf + 1;
    }
    // Copy the tail so the chunk it came from can be freed once its lines are written.
    if (start < chunk.length) this.rest = Buffer.from(chunk.subarray(start));
    return lines;
  }

  /** The last line when the input does not end with a newline. */
  end(): Buffer[] {
    const rest = this.rest;
    this.rest = undefined;
    return rest === undefined || rest.length === 0 ? [] : [rest];
  }
}

const ID_KEY = Buffer.from('"custom_id"');

/** The custom_id of a serialized request line, read without parsing the whole line (undefined if absent). */
export function peekCustomId(line: Buffer): string | undefined {
  const at = line.indexOf(ID_KEY);
  if (at === -1) return undefined;
  const head = line.toString('utf8', at + ID_KEY.length, Math.min(line.length, at + ID_KEY.length + 1024));
  const match = /^\s*:\s*("(?:[^"\\]|\\.)*")/.exec(head);
  if (match === null) return undefined;
  try {
    return JSON.parse(match[1]!) as string;
  } catch {
    return undefined;
  }
}
