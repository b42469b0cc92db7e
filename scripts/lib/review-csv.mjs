// The benchmarks' generated review CSV: deterministic (seeded), with quoted commas, escaped quotes, newlines and
// multibyte text, written with backpressure.
import { createWriteStream } from 'node:fs';

const WORDS = ['great', 'terrible', 'okay', 'battery', 'screen', 'délicieux', 'naïve', 'café', 'works', 'broke', 'after',
  'two', 'weeks', 'price', 'value', 'quality', 'shipping', 'fast', 'slow', 'recommend', '日本語', 'emoji 😀', 'would',
  'buy', 'again', 'never', 'the', 'a', 'it', 'and'];

/**
 * Write `rows` review rows to `path`. `columns: 'full'` gives id,product,rating,title,text (~335 bytes a row, the
 * prepare benchmark's file); `'text'` gives id,text (~250 bytes a row).
 */
export async function generateReviews(rows, path, { columns = 'full' } = {}) {
  let seed = 42;
  // Math.imul: a float product loses low bits past 2^53, and the sequence fell into a cycle of 419 draws (283 texts).
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const sentence = (n) => {
    let s = '';
    for (let i = 0; i < n; i++) s += (i ? ' ' : '') + WORDS[(rnd() * WORDS.length) | 0];
    return s;
  };
  const out = createWriteStream(path, { highWaterMark: 1 << 20 });
  out.write(columns === 'full' ? 'id,product,rating,title,text\n' : 'id,text\n');
  let buf = '';
  for (let i = 1; i <= rows; i++) {
    let text = sentence(25 + ((rnd() * 35) | 0));
    const r = rnd();
    if (r < 0.3) text += `, and also, ${sentence(5)}`;
    if (r < 0.1) text += ` he said ""${sentence(3)}""`;
    if (r > 0.9) text += `\n${sentence(6)}`;
    buf += columns === 'full' ? `r${i},P-${(rnd() * 5000) | 0},${1 + ((rnd() * 5) | 0)},"${sentence(4)}","${text}"\n` : `r${i},"${text}"\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise((resolve) => out.once('drain', resolve));
      buf = '';
    }
  }
  out.end(buf);
  await new Promise((resolve, reject) => out.on('finish', resolve).on('error', reject));
}
