import { hash32 } from './internal/random.js';
import type { ChatRequestBody } from './options.js';

/** What the built-in responder decided: the answer text and, for label prompts, the other candidates. */
export interface ResponderAnswer {
  content: string;
  /** The labels the answer was chosen from (first-token alternatives for logprobs). */
  labels?: string[];
  /** Which rule produced the answer (for docs/tests). */
  rule: 'label-sentiment' | 'label-hash' | 'json-schema' | 'json-fields' | 'json' | 'echo';
}

const POSITIVE = new Set(
  'good great excellent love loved loves lovely amazing wonderful best fantastic happy like liked enjoy enjoyed awesome perfect nice recommend recommended brilliant delightful pleased superb beautiful glad favorite fast helpful friendly works worth impressive outstanding satisfied bright clear quick solved sturdy early value stars deep'.split(
    ' ',
  ),
);
const NEGATIVE = new Set(
  'bad terrible awful hate hated hates worst poor boring disappointing disappointed horrible sad broken waste useless angry slow refund rude dirty ugly annoying problem problems fail failed fails bug buggy crash crashed worse mediocre unhappy stopped confusing confused expensive damaged drains broke returned loud meh'.split(
    ' ',
  ),
);
const NEGATORS = new Set(['not', 'no', "don't", "didn't", "isn't", "wasn't", "doesn't", 'hardly', 'barely', "never"]);

/** Flatten message content (string or array of parts) into text. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string' ? (part as { text: string }).text : ''))
      .join('');
  }
  return '';
}

/** The whole prompt: every message's text, one per line. */
export function promptText(body: Pick<ChatRequestBody, 'messages'>): string {
  return body.messages.map((m) => contentText(m.content)).join('\n');
}

const LABEL_PATTERNS = [
  /\bone of(?: (?:these|those|the following|the))?(?: (?:labels|categories|classes|options|values|words|answers))?\s*:\s*([^\n]+)/i,
  /\b(?:labels|categories|classes|options|allowed values)\s*:\s*([^\n]+)/i,
];

/** Find a label list in a prompt; returns the labels and the prompt with the list removed (the record text). */
export function detectLabels(prompt: string): { labels: string[]; rest: string } | undefined {
  for (const pattern of LABEL_PATTERNS) {
    const match = pattern.exec(prompt);
    if (!match) continue;
    let list = match[1]!;
    const sentenceEnd = list.search(/\.(\s|$)/);
    if (sentenceEnd >= 0) list = list.slice(0, sentenceEnd);
    const labels = list
      .split(/\s*(?:,|\||\/|;|\bor\b)\s*/i)
      .map((s) => s.trim().replace(/^(?:and\s+)/i, '').replace(/^["'`[(]+|["'`\])]+$/g, '').trim())
      .filter((s) => s !== '' && s.length <= 40 && s.split(/\s+/).length <= 4);
    if (labels.length < 2) continue;
    // Remove only the instruction and its list: the rest of the line (e.g. ". Review: …") is record text.
    const start = match.index;
    const end = match.index + match[0].length - match[1]!.length + list.length;
    return { labels: [...new Set(labels)], rest: prompt.slice(0, start) + prompt.slice(end) };
  }
  return undefined;
}

/** Lexicon score: +1 per positive word, -1 per negative word, flipped after "not"/"never"/…. */
export function sentimentScore(text: string): number {
  const words = text.toLowerCase().match(/[a-z']+/g) ?? [];
  let score = 0;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const sign = POSITIVE.has(w) ? 1 : NEGATIVE.has(w) ? -1 : 0;
    if (sign === 0) continue;
    // Only the word right after a negator flips ("not bad"); "not our problem" stays a complaint.
    const negated = i > 0 && NEGATORS.has(words[i - 1]!);
    score += negated ? -sign : sign;
  }
  return score;
}

/**
 * Pick one label by a transparent rule: with positive/negative(/neutral) labels the lexicon score decides
 * (0 → neutral when listed); otherwise FNV-1a hash of the record text modulo the number of labels.
 */
export function pickLabel(labels: string[], text: string): { label: string; rule: 'label-sentiment' | 'label-hash' } {
  const find = (re: RegExp) => labels.find((l) => re.test(l));
  const pos = find(/^(positive|pos)$/i);
  const neg = find(/^(negative|neg)$/i);
  if (pos !== undefined && neg !== undefined) {
    const score = sentimentScore(text);
    const neutral = find(/^(neutral|mixed|none)$/i);
    if (score > 0) return { label: pos, rule: 'label-sentiment' };
    if (score < 0) return { label: neg, rule: 'label-sentiment' };
    if (neutral !== undefined) return { label: neutral, rule: 'label-sentiment' };
  }
  return { label: labels[hash32(text.trim()) % labels.length]!, rule: 'label-hash' };
}

/** Extract the first balanced {...} after "JSON Schema:" and parse it. */
export function extractJsonSchema(prompt: string): Record<string, unknown> | undefined {
  const at = prompt.search(/json schema\s*:/i);
  if (at < 0) return undefined;
  const open = prompt.indexOf('{', at);
  if (open < 0) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = open; i < prompt.length; i++) {
    const c = prompt[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      try {
        const parsed = JSON.parse(prompt.slice(open, i + 1)) as unknown;
        return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

interface FillContext {
  text: string;
  labels?: string[];
}

/** A plausible value for a JSON Schema, deterministic in the record text and the field name. */
export function valueForSchema(schema: unknown, key: string, ctx: FillContext, depth = 0): unknown {
  if (depth > 8 || !schema || typeof schema !== 'object') return words(ctx.text, 8);
  const s = schema as Record<string, unknown>;
  if ('const' in s) return s['const'];
  if (Array.isArray(s['enum']) && s['enum'].length > 0) {
    const options = s['enum'] as unknown[];
    if (options.every((o) => typeof o === 'string')) return pickLabel(options as string[], ctx.text).label;
    return options[hash32(key + ctx.text) % options.length];
  }
  const variants = (s['anyOf'] ?? s['oneOf']) as unknown[] | undefined;
  if (Array.isArray(variants) && variants.length > 0) {
    const nonNull = variants.find((v) => !(v && typeof v === 'object' && (v as { type?: unknown }).type === 'null'));
    return valueForSchema(nonNull ?? variants[0], key, ctx, depth + 1);
  }
  let type = s['type'];
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? 'null';
  if (type === undefined) type = s['properties'] ? 'object' : s['items'] ? 'array' : 'string';
  const h = hash32(`${key}\u0000${ctx.text}`);
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props = (s['properties'] ?? {}) as Record<string, unknown>;
      for (const [k, sub] of Object.entries(props)) out[k] = valueForSchema(sub, k, ctx, depth + 1);
      return out;
    }
    case 'array': {
      const n = Math.max(1, Number(s['minItems'] ?? 1));
      return Array.from({ length: Math.min(n, 5) }, (_, i) => valueForSchema(s['items'], `${key}${i}`, ctx, depth + 1));
    }
    case 'integer': {
      const min = typeof s['minimum'] === 'number' ? Math.ceil(s['minimum']) : 0;
      const max = typeof s['maximum'] === 'number' ? Math.floor(s['maximum']) : min + 100;
      return min + (h % (max - min + 1));
    }
    case 'number': {
      if (/confidence|score|probability|prob/i.test(key) && s['maximum'] === undefined) return 0.5 + (h % 50) / 100;
      const min = typeof s['minimum'] === 'number' ? s['minimum'] : 0;
      const max = typeof s['maximum'] === 'number' ? s['maximum'] : min + 100;
      return Math.round((min + ((h % 1000) / 1000) * (max - min)) * 100) / 100;
    }
    case 'boolean':
      return h % 2 === 0;
    case 'null':
      return null;
    default:
      return stringFor(key, s, ctx, h);
  }
}

function stringFor(key: string, s: Record<string, unknown>, ctx: FillContext, h: number): string {
  const format = s['format'];
  if (format === 'date') return '2024-01-15';
  if (format === 'date-time') return '2024-01-15T12:00:00Z';
  if (format === 'email') return 'user@example.com';
  if (format === 'uri' || format === 'url') return 'https://example.com/';
  if (/label|sentiment|category|class|tag/i.test(key) && ctx.labels) return pickLabel(ctx.labels, ctx.text).label;
  if (/sentiment/i.test(key)) return pickLabel(['positive', 'negative', 'neutral'], ctx.text).label;
  if (/language|lang/i.test(key)) return 'en';
  if (/name|title/i.test(key)) return words(ctx.text, 3) || `item ${h % 1000}`;
  return words(ctx.text, 12) || `${key} ${h % 1000}`;
}

function words(text: string, n: number): string {
  return text.trim().split(/\s+/).slice(0, n).join(' ');
}

/** The record text a JSON/echo answer is about: the last user message. */
function lastUserText(body: Pick<ChatRequestBody, 'messages'>): string {
  for (let i = body.messages.length - 1; i >= 0; i--) {
    if (body.messages[i]!.role === 'user') return contentText(body.messages[i]!.content);
  }
  return promptText(body);
}

/**
 * The built-in responder: not a language model, a rule. Labels listed → one label; "JSON" mentioned → valid JSON
 * (filling a "JSON Schema:" or "fields:" list when present); otherwise "Echo: <last user message>".
 * @param body - a chat completion request body
 */
export function respond(body: Pick<ChatRequestBody, 'messages'>): ResponderAnswer {
  const prompt = promptText(body);
  const found = detectLabels(prompt);
  const wantsJson = /\bjson\b/i.test(prompt);
  if (wantsJson) {
    const record = found ? found.rest : lastUserText(body);
    const ctx: FillContext = { text: record, ...(found ? { labels: found.labels } : {}) };
    const schema = extractJsonSchema(prompt);
    if (schema) {
      // The record is the last user message without the schema (or, if that leaves nothing, the whole prompt).
      const withoutSchema = (text: string) => text.replace(/json schema\s*:[\s\S]*$/i, '').trim();
      const text = found ? withoutSchema(found.rest) : withoutSchema(lastUserText(body)) || withoutSchema(prompt);
      const value = valueForSchema(schema, 'root', { ...ctx, text });
      return { content: JSON.stringify(value), rule: 'json-schema' };
    }
    const fields = /\b(?:fields|keys|properties)\s*:\s*([^\n]+)/i.exec(prompt);
    if (fields) {
      const names = fields[1]!
        .replace(/\.(\s|$).*$/, '')
        .split(/\s*(?:,|;|\band\b)\s*/)
        .map((f) => f.trim().replace(/^["'`]+|["'`]+$/g, ''))
        .filter((f) => /^[\w.-]{1,64}$/.test(f));
      if (names.length > 0) {
        const out: Record<string, unknown> = {};
        for (const name of names) out[name] = valueForSchema({ type: 'string' }, name, ctx);
        return { content: JSON.stringify(out), rule: 'json-fields' };
      }
    }
    if (found) return { content: JSON.stringify({ label: pickLabel(found.labels, found.rest).label }), labels: found.labels, rule: 'json' };
    return { content: JSON.stringify({ answer: `Echo: ${words(record, 40)}` }), rule: 'json' };
  }
  if (found) {
    const picked = pickLabel(found.labels, found.rest);
    return { content: picked.label, labels: found.labels, rule: picked.rule };
  }
  const text = lastUserText(body).replace(/\s+/g, ' ').trim();
  return { content: `Echo: ${text.length > 280 ? `${text.slice(0, 279)}…` : text}`, rule: 'echo' };
}
