import { describe, expect, it } from 'vitest';
import { chooseMode, DEFAULT_AUTO_THRESHOLD } from '../../src/realtime/choose-mode.js';

describe('chooseMode', () => {
  it('keeps an explicit mode whatever the request count', () => {
    expect(chooseMode({ mode: 'batch', requests: 1 })).toBe('batch');
    expect(chooseMode({ mode: 'realtime', requests: 10_000_000 })).toBe('realtime');
  });

  it('runs auto below the threshold realtime and from it up as a batch', () => {
    expect(DEFAULT_AUTO_THRESHOLD).toBe(1000);
    expect(chooseMode({ mode: 'auto', requests: 0 })).toBe('realtime');
    expect(chooseMode({ mode: 'auto', requests: 999 })).toBe('realtime');
    expect(chooseMode({ mode: 'auto', requests: 1000 })).toBe('batch');
    expect(chooseMode({ mode: 'auto', requests: 50, autoThreshold: 50 })).toBe('batch');
    expect(chooseMode({ mode: 'auto', requests: 49, autoThreshold: 50 })).toBe('realtime');
  });

  it("runs auto realtime on a provider whose batches kbatch cannot run (together), whatever the count; batch still means batch", () => {
    expect(chooseMode({ mode: 'auto', requests: 1_000_000, provider: 'together' })).toBe('realtime');
    expect(chooseMode({ mode: 'auto', requests: 1_000_000, provider: 'openai' })).toBe('batch');
    expect(chooseMode({ mode: 'batch', requests: 1, provider: 'together' })).toBe('batch');
  });
});
