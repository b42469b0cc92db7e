import { describe, expect, it } from 'vitest';
import { chooseMode, DEFAULT_AUTO_THRESHOLD } from '../../src/realtime/choose-mode.js';
import { BATCH_SHAPES_SPOKEN, type ApiShape } from '../../src/providers/provider-profile.js';

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

  it("runs auto realtime on a provider whose batches kbatch cannot run (together, its shape taken out), whatever the count; batch still means batch", () => {
    // Every shape is spoken now: together's is taken out here, as a shape whose adapter is not built yet would be.
    const spoken = BATCH_SHAPES_SPOKEN as Set<ApiShape>;
    spoken.delete('together-batch');
    try {
      expect(chooseMode({ mode: 'auto', requests: 1_000_000, provider: 'together' })).toBe('realtime');
      expect(chooseMode({ mode: 'auto', requests: 1_000_000, provider: 'openai' })).toBe('batch');
      expect(chooseMode({ mode: 'batch', requests: 1, provider: 'together' })).toBe('batch');
    } finally {
      spoken.add('together-batch');
    }
  });

  it('runs auto as a batch on together from the threshold up, now that kbatch speaks its Batch API', () => {
    expect(chooseMode({ mode: 'auto', requests: 1_000_000, provider: 'together' })).toBe('batch');
  });
});
