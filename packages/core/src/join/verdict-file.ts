// A result file's verdicts as the download read them, kept beside it: the join reads them instead of the file's lines.
import { closeSync, openSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { LineVerdict } from './result-verdict.js';
import { encodeVerdict, recordBytes, verdictBytes } from './verdict-store.js';

/** Entries never cross a block: a reader takes the file block by block. */
const BLOCK = 1 << 20;
/** Before each verdict: its line's length (u32; 0 ends the block), line number (u32) and byte offset (f64). */
const ENTRY_HEAD = 16;
/** After the last block: magic (8 bytes), entries (u32), unused (u32), the result file's size, mtime, ctime and inode (f64 each). */
const FOOTER = 48;
const MAGIC = Buffer.from('kbverd03', 'latin1');
const EMPTY_BLOCK = Buffer.alloc(0);

/** The verdict file of result file `resultFile`. */
export const verdictFilePath = (resultFile: string): string => `${resultFile}.verdicts`;

/** Where a verdict's line is in its result file. */
export interface VerdictPlace {
  offset: number;
  length: number;
  line: number;
}

/**
 * Writes the verdicts of a result file's lines as they are downloaded, when every line has one: the first line
 * without a verdict (a failure, an unusual shape) abandons the file, and the join reads the result file itself.
 * Written to a temporary name and renamed by {@link finish}, after the result file is in place: a verdict file
 * present is whole, and its footer names the result file's size, mtime, ctime and inode (a result file changed since
 * is read). Writing it never fails a download: any error abandons it.
 */
export class VerdictFileWriter {
  /** Allocated at the first verdict: a download whose first line has none (failures) never takes 1 MB. */
  private block: Buffer = EMPTY_BLOCK;
  private used = 0;
  private fd = -1;
  private count = 0;
  private abandoned = false;
  private readonly temp: string;

  constructor(private readonly resultFile: string) {
    this.temp = `${verdictFilePath(resultFile)}.tmp`;
    // A verdict file of an earlier download of this result file never stands for this one.
    removeQuietly(verdictFilePath(resultFile));
  }

  /** Add the verdict of the line `line` (its offset and number in the result file); false once abandoned. */
  add(line: Buffer, v: Readonly<LineVerdict>, offset: number, lineNo: number): boolean {
    if (this.abandoned) return false;
    const bytes = verdictBytes(line, v);
    if (bytes === -1) return this.abandon();
    if (this.used + ENTRY_HEAD + bytes > BLOCK && !this.flush(true)) return false;
    if (this.block === EMPTY_BLOCK) this.block = Buffer.allocUnsafe(BLOCK);
    const b = this.block;
    const at = this.used;
    b.writeUInt32LE(line.length, at);
    b.writeUInt32LE(lineNo, at + 4);
    b.writeDoubleLE(offset, at + 8);
    this.used = at + ENTRY_HEAD + encodeVerdict(b, at + ENTRY_HEAD, line, v);
    this.count++;
    return true;
  }

  /** Give up: this result file is read by the join. */
  abandon(): false {
    if (!this.abandoned) {
      this.abandoned = true;
      this.close();
      removeQuietly(this.temp);
    }
    return false;
  }

  /** Put the verdict file in place once its result file is (nothing when abandoned or empty). */
  async finish(): Promise<void> {
    if (this.abandoned) return;
    if (this.count === 0) {
      this.abandon();
      return;
    }
    try {
      const result = await stat(this.resultFile);
      if (!this.flush(false)) return;
      const footer = Buffer.alloc(FOOTER);
      MAGIC.copy(footer, 0);
      footer.writeUInt32LE(this.count, 8);
      writeFacts(footer, result);
      if (writeSync(this.fd, footer) !== FOOTER) throw new Error('short write');
      this.close();
      renameSync(this.temp, verdictFilePath(this.resultFile));
    } catch {
      // Only a shortcut is lost: the join reads the result file.
      this.abandon();
    }
  }

  /** Write the block (`pad`: whole, so the next entry starts the next block); false (abandoned) when it cannot be written. */
  private flush(pad: boolean): boolean {
    try {
      if (this.fd === -1) this.fd = openSync(this.temp, 'w');
      if (pad && this.used + 4 <= BLOCK) this.block.writeUInt32LE(0, this.used);
      const length = pad ? BLOCK : this.used;
      if (writeSync(this.fd, this.block, 0, length) !== length) throw new Error('short write');
    } catch {
      // A full disk or a file limit costs only this shortcut, never the download.
      return this.abandon();
    }
    this.used = 0;
    return true;
  }

  private close(): void {
    try {
      if (this.fd !== -1) closeSync(this.fd);
    } catch {
      // Nothing more can be done with it.
    }
    this.fd = -1;
  }
}

/**
 * Visit the verdicts kept beside result file `resultFile` (see {@link VerdictFileWriter}), in line order: `page[at…]` is
 * the verdict as `encodeVerdict` wrote it (valid during the call only). False, with nothing visited, when there is no
 * verdict file or it does not stand for the result file as it is now (then read the result file).
 */
export async function readVerdictFile(resultFile: string, visit: (page: Buffer, at: number, place: Readonly<VerdictPlace>) => void): Promise<boolean> {
  const path = verdictFilePath(resultFile);
  const handle = await open(path, 'r').catch(() => null);
  if (handle === null) return false;
  try {
    const [{ size }, result] = await Promise.all([handle.stat(), stat(resultFile).catch(() => null)]);
    if (result === null || size < FOOTER) return false;
    const footer = Buffer.alloc(FOOTER);
    await handle.read(footer, 0, FOOTER, size - FOOTER);
    const facts = Buffer.alloc(FOOTER);
    writeFacts(facts, result);
    if (!footer.subarray(0, 8).equals(MAGIC) || !footer.subarray(16).equals(facts.subarray(16))) return false;
    const block = Buffer.allocUnsafe(BLOCK);
    const walk = async (each: (at: number, length: number) => void): Promise<number> => {
      let seen = 0;
      for (let from = 0; from < size - FOOTER; from += BLOCK) {
        const { bytesRead } = await handle.read(block, 0, Math.min(BLOCK, size - FOOTER - from), from);
        for (let at = 0; at + ENTRY_HEAD <= bytesRead; ) {
          const length = block.readUInt32LE(at);
          if (length === 0) break;
          each(at, length);
          seen++;
          at += ENTRY_HEAD + recordBytes(block, at + ENTRY_HEAD);
        }
      }
      return seen;
    };
    // Counted first: a damaged file is read around (nothing visited), not half-trusted.
    if ((await walk(() => {})) !== footer.readUInt32LE(8)) return false;
    const place: VerdictPlace = { offset: 0, length: 0, line: 0 };
    await walk((at, length) => {
      place.length = length;
      place.line = block.readUInt32LE(at + 4);
      place.offset = block.readDoubleLE(at + 8);
      visit(block, at + ENTRY_HEAD, place);
    });
    return true;
  } finally {
    await handle.close();
  }
}

/** The result file's facts a verdict file stands for: size, mtime, ctime and inode (footer bytes 16–47). */
function writeFacts(footer: Buffer, result: Stats): void {
  footer.writeDoubleLE(result.size, 16);
  footer.writeDoubleLE(result.mtimeMs, 24);
  footer.writeDoubleLE(result.ctimeMs, 32);
  footer.writeDoubleLE(result.ino, 40);
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Absent: nothing to remove.
  }
}
