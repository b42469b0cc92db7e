import { describe, expect, it } from 'vitest';
import { detectLabels, pickLabel, respond, sentimentScore } from '../src/index.js';

const user = (content: string, system?: string) => ({ messages: [...(system ? [{ role: 'system', content: system }] : []), { role: 'user', content }] });

describe('respond', () => {
  it('picks a sentiment label with the lexicon (negation flips)', () => {
    const labels = 'Answer with exactly one of these labels: positive, negative, neutral';
    expect(respond(user(`${labels}\nText: I loved it, excellent`))).toMatchObject({ content: 'positive', rule: 'label-sentiment' });
    expect(respond(user(`${labels}\nText: awful, a waste of time`))).toMatchObject({ content: 'negative' });
    expect(respond(user(`${labels}\nText: not good at all`))).toMatchObject({ content: 'negative' });
    expect(respond(user(`${labels}\nText: Not bad at all`))).toMatchObject({ content: 'positive' });
    // a negator reaches only the next word: a dismissed complaint is still a complaint
    expect(respond(user(`${labels}\nText: Stopped working. Support said "not our problem".`))).toMatchObject({ content: 'negative' });
    expect(respond(user(`${labels}\nText: it is a chair`))).toMatchObject({ content: 'neutral' });
    expect(respond(user(`${labels}. Review: A wonderful film, I loved every minute.`))).toMatchObject({ content: 'positive' });
    expect(detectLabels(`${labels}. Review: boring`)!.rest).toBe('Answer with exactly . Review: boring');
  });

  it('detects "one of: …" and "Labels: …" lists, in system or user messages, keeping label spelling', () => {
    expect(detectLabels('Reply with one of: Positive, Negative.')!.labels).toEqual(['Positive', 'Negative']);
    expect(detectLabels('Labels: sports | politics | tech')!.labels).toEqual(['sports', 'politics', 'tech']);
    expect(detectLabels('Categories: "a", "b" or "c"')!.labels).toEqual(['a', 'b', 'c']);
    expect(detectLabels('This is one of the best films, truly great')).toBeUndefined();
    expect(respond(user('I hated it', 'Labels: Positive, Negative')).content).toBe('Negative');
  });

  it('picks other labels by a stable hash of the record text', () => {
    const a = respond(user('Labels: sports, politics, tech\nText: the match ended 2-1'));
    expect(a.rule).toBe('label-hash');
    expect(['sports', 'politics', 'tech']).toContain(a.content);
    expect(respond(user('Labels: sports, politics, tech\nText: the match ended 2-1')).content).toBe(a.content);
    expect(pickLabel(['x', 'y'], 'same')).toEqual(pickLabel(['x', 'y'], 'same'));
  });

  it('answers valid JSON filling a "JSON Schema:" given in the prompt', () => {
    const schema = { type: 'object', properties: { sentiment: { enum: ['positive', 'negative'] }, stars: { type: 'integer', minimum: 1, maximum: 5 }, tags: { type: 'array', items: { type: 'string' } }, ok: { type: 'boolean' }, score: { type: 'number' }, when: { type: 'string', format: 'date' }, nested: { type: 'object', properties: { a: { type: ['string', 'null'] } } } } };
    const answer = respond(user(`Review: I loved it\nAnswer in JSON matching this JSON Schema: ${JSON.stringify(schema)}`));
    expect(answer.rule).toBe('json-schema');
    const value = JSON.parse(answer.content);
    expect(value.sentiment).toBe('positive');
    expect(value.stars).toBeGreaterThanOrEqual(1);
    expect(value.stars).toBeLessThanOrEqual(5);
    expect(value).toMatchObject({ tags: [expect.any(String)], ok: expect.any(Boolean), score: expect.any(Number), when: '2024-01-15', nested: { a: expect.any(String) } });
  });

  it('answers JSON with the listed fields, or a label/answer object', () => {
    expect(Object.keys(JSON.parse(respond(user('Return JSON with fields: name, city, country')).content))).toEqual(['name', 'city', 'country']);
    expect(JSON.parse(respond(user('Respond in JSON. Labels: yes, no\nText: great')).content)).toHaveProperty('label');
    expect(JSON.parse(respond(user('Reply as JSON please')).content)).toHaveProperty('answer');
  });

  it('echoes otherwise', () => {
    expect(respond(user('hello   world'))).toEqual({ content: 'Echo: hello world', rule: 'echo' });
    expect(respond({ messages: [{ role: 'user', content: [{ type: 'text', text: 'parts' }] }] }).content).toBe('Echo: parts');
  });

  it('scores sentiment words', () => {
    expect(sentimentScore('good great bad')).toBe(1);
    expect(sentimentScore('never good')).toBe(-1);
  });
});
