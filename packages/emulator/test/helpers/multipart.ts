import { request } from 'node:http';
import { Readable } from 'node:stream';

/** A Readable producing `bytes` of JSONL-looking data in 64 KiB chunks, never holding more than one chunk. */
export function generatedJsonl(bytes: number): Readable {
  const line = `${JSON.stringify({ custom_id: 'x', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [{ role: 'user', content: 'y'.repeat(100) }] } })}\n`;
  const chunk = Buffer.from(line.repeat(Math.ceil(65536 / line.length)).slice(0, 65536));
  let left = bytes;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, chunk.length);
      left -= n;
      // The same immutable chunk every time: no client-side garbage muddying the RSS measurement.
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

/**
 * POST a multipart upload through node:http with backpressure (pipe waits for the socket), so the client side
 * stays at constant memory; the openai client's fetch upload would not (see style.md rule 8).
 */
export async function streamUpload(baseURL: string, body: Readable, size: number, purpose = 'batch'): Promise<{ status: number; json: any }> {
  const boundary = `----emu${Date.now()}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n${purpose}\r\n--${boundary}--\r\n`);
  const url = new URL(`${baseURL}/files`);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + size + tail.length, authorization: 'Bearer x' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.write(head);
    body.on('end', () => req.end(tail));
    body.on('error', reject);
    body.pipe(req, { end: false });
  });
}
