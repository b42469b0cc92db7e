// Worker side of the parallel prepare: parse one piece of input (whole lines, cut by the main thread),
// report how far it got (so the next piece can start at a record boundary), then build its request lines.
import { parentPort } from 'node:worker_threads';
import { isKbatchError } from '../errors.js';
import { createReader } from '../records/record-batches.js';
import type { RejectedRecord } from '../records/rejected-record.js';
import { createRequestEncoder } from '../request/request-encoder.js';
import { createRequestBuilder } from '../request/to-batch-request.js';
import type { PieceMessage, WorkerInit, WorkerReply } from './parallel-protocol.js';

let init: WorkerInit | undefined;
let builder: ReturnType<typeof createRequestBuilder> | undefined;

const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(reply, transfer);

parentPort!.on('message', (message: WorkerInit | PieceMessage) => {
  if (message.type === 'init') {
    init = message;
    builder = createRequestBuilder(message.request);
    return;
  }
  const piece = message;
  try {
    const rejects: RejectedRecord[] = [];
    const onReject = (r: RejectedRecord) => rejects.push(r);
    const reader = createReader(init!.file, { onInvalidRecord: init!.onInvalidRecord, onReject, delimiter: init!.delimiter }, init!.format, {
      count: piece.firstIndex - 1,
      line: piece.firstLine,
      header: piece.header,
    });
    const bytes = Buffer.from(piece.bytes.buffer, piece.bytes.byteOffset, piece.bytes.byteLength);
    const text = bytes.toString('utf8');
    let records = reader.push(text);
    if (piece.final) records = records.concat(reader.end(''));
    const pendingBytes = piece.final ? 0 : Buffer.byteLength(reader.pending);
    post({
      type: 'parsed',
      seq: piece.seq,
      consumed: bytes.length - pendingBytes,
      nextIndex: reader.count + 1,
      nextLine: reader.nextLine,
      header: reader.headerFields,
    });

    const encoder = createRequestEncoder(builder!, { onInvalidRecord: init!.onInvalidRecord, onReject, file: init!.file });
    // Encode lines straight into one buffer (sized for the worst case: 3 bytes per UTF-16 unit).
    let out = Buffer.allocUnsafe(Math.max(1024, text.length * 4));
    let off = 0;
    let written = 0;
    for (const record of records) {
      const line = encoder.encodeLine(record);
      if (line === undefined) continue;
      if (off + line.length * 3 + 1 > out.length) {
        const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, off + line.length * 3 + 1));
        out.copy(bigger, 0, 0, off);
        out = bigger;
      }
      off += out.write(line, off);
      out[off++] = 10;
      written++;
    }
    const encoded = out.subarray(0, off);
    const buffer = encoded.buffer as ArrayBuffer;
    rejects.sort((a, b) => a.record - b.record);
    post({ type: 'encoded', seq: piece.seq, out: new Uint8Array(buffer, encoded.byteOffset, encoded.length), written, rejects }, [buffer]);
  } catch (err) {
    const e = err as Error & Record<string, unknown>;
    post({
      type: 'error',
      seq: piece.seq,
      error: isKbatchError(err)
        ? { code: err.code, message: err.message, context: { file: err.file, line: err.line, record: err.record, field: err.field, customId: err.customId } }
        : { message: e.stack ?? e.message },
    });
  }
});
