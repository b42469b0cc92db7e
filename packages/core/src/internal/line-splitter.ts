/** Splits a byte stream into lines (without the `\n`, and without a `\r` before it). */
export class LineSplitter {
  private rest: Buffer | undefined;

  /** The complete lines in `chunk` (plus a carried-over partial line). */
  push(chunk: Buffer): Buffer[] {
    const buf = this.rest === undefined ? chunk : Buffer.concat([this.rest, chunk]);
    const lines: Buffer[] = [];
    let start = 0;
    for (let lf = buf.indexOf(10); lf !== -1; lf = buf.indexOf(10, start)) {
      lines.push(buf.subarray(start, lf > start && buf[lf - 1] === 13 ? lf - 1 : lf));
      start = lf + 1;
    }
    // Copy the tail so the (large) chunk it came from can be freed.
    this.rest = start < buf.length ? Buffer.from(buf.subarray(start)) : undefined;
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
