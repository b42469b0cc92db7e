import { describe, expect, it } from 'vitest';
import { escapeHtml, renderHtml, scriptJson, scriptSource } from '../../src/report/report-html.js';
import { reportSections } from '../../src/report/report-sections.js';
import type { ReportData } from '../../src/report/report-data.js';
import { evaluate } from '../../src/index.js';

const DATA: ReportData = {
  source: 'out.jsonl', output: 'out.jsonl', generatedAt: '2026-12-05T00:00:00.000Z', gold: null, goldLabels: null, rows: 1,
  models: [{ alias: null, pred: 'label', predicted: { '</script><b>x</b>': 1 }, unpredicted: { failed: 0, empty: 0, not_a_label: 0 }, confidence: new Array(20).fill(0), tokens: { prompt: 0, completion: 0 }, eval: null }],
  agreement: [], failures: [], otherFailures: 0, timeline: null, spend: null,
};

describe('report page', () => {
  it('embeds data as JSON that cannot end its script element or break a line (</script>, <!--, U+2028/9)', () => {
    const value = { text: '</script><!-- \u2028 \u2029 "' };
    const json = scriptJson(value);
    expect(json).not.toMatch(/[<\u2028\u2029]/);
    expect(JSON.parse(json)).toEqual(value);
    expect(scriptSource('a="</script>";b="</SCRIPT";c="<!--"')).toBe('a="<\\/script>";b="<\\/SCRIPT";c="<\\!--"');
    expect(escapeHtml(`<a href="x">'&`)).toBe('&#60;a href=&#34;x&#34;&#62;&#39;&#38;');
  });

  it('is one document with a CSP forbidding requests, user text escaped, and no src or href attribute', () => {
    const layout = reportSections(DATA);
    const html = renderHtml({ data: DATA, sections: layout.sections, charts: {}, vegaSource: 'var vega={};' });
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none';`);
    expect(html).not.toMatch(/\s(src|href)=/i);
    expect(html.match(/<\/script>/g)).toHaveLength(3);
    expect(html).not.toContain('<b>x</b>');
  });

  it('says in one line why a section has no chart', () => {
    const { sections, specs } = reportSections(DATA);
    expect(Object.keys(specs)).toEqual(['chart-labels']);
    const text = Object.fromEntries(sections.map((s) => [s.id, s.html]));
    expect(text['confusion']).toContain('No gold column');
    expect(text['timeline']).toContain('An output file has no batch history');
    expect(text['failures']).toContain('No row failed.');
    expect(text['tokens']).toContain('No token counts');
  });

  it("names each batch's model in a several-models job's timeline, and an unknown end as unknown", () => {
    const batch = { part: '00001', kind: 'chunk', batchId: 'b1', status: 'completed', start: '2026-12-05T00:00:00.000Z', requests: 1, succeeded: 1, failed: 0 };
    const timeline = [{ ...batch, model: 'a', end: null }, { ...batch, model: 'b', end: '2026-12-05T00:01:00.000Z' }];
    const { sections, specs } = reportSections({ ...DATA, timeline });
    const html = sections.find((s) => s.id === 'timeline')!.html;
    expect(html).toMatch(/<th>model<\/th>/);
    expect(html).toContain('<td>unknown</td>');
    // The chart draws only the batch whose end is known, named by its model.
    expect(JSON.stringify(specs['chart-timeline'])).toContain('"batch":"b 00001 chunk"');
    expect(JSON.stringify(specs['chart-timeline'])).not.toContain('"batch":"a 00001 chunk"');
  });

  it('gives the cost per correct label when spend and gold are known', async () => {
    const usage = { requests: 10, promptTokens: 100, completionTokens: 10, reasoningTokens: 0, cachedTokens: 0 };
    const none = { requests: 0, promptTokens: 0, completionTokens: 0, reasoningTokens: 0, cachedTokens: 0 };
    const spend = { currency: 'USD' as const, models: [{ provider: 'kluster', model: 'org/m', batch: usage, realtime: none, cost: 0.5, batchSaved: 0.5 }], cost: 0.5, unpriced: [], batchSaved: 0.5, cacheSaved: null, prices: null };
    const evaluated = await evaluate([...Array.from({ length: 8 }, () => ({ gold: 'a', label: 'a' })), { gold: 'a', label: 'b' }], { gold: 'gold' });
    const { sections } = reportSections({ ...DATA, spend, models: [{ ...DATA.models[0]!, eval: evaluated }] });
    // $0.50 / 8 correct labels.
    expect(sections.find((s) => s.id === 'tokens')!.html).toContain('<b data-testid="cost-per-correct">$0.0625</b> per correct label');
  });
});
