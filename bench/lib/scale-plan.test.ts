import { describe, expect, it } from 'vitest';
import { pairedRatio, perSessionDelta, type ScaleSample, scaleSchedule } from './scale-plan.js';
import { median } from './stats.js';

const sample = (
  sessions: number,
  round: number,
  cpuPerRequest: number,
  scenario: 'read' | 'hit' = 'read',
): ScaleSample => ({
  config: 'tessera-node-memory',
  sessions,
  scenario,
  round,
  cpuPerRequest,
  requests: 5000,
  held: true,
  achievedRate: 2000,
  loadAverage: 1,
  otherBusyCores: 0,
});

describe('scaleSchedule', () => {
  it('measures every size once per round and rotates the start each round', () => {
    expect(scaleSchedule([1000, 100_000], 3)).toEqual([
      [1000, 100_000],
      [100_000, 1000],
      [1000, 100_000],
    ]);
    expect(scaleSchedule([1, 2, 3], 3)).toEqual([
      [1, 2, 3],
      [2, 3, 1],
      [3, 1, 2],
    ]);
  });

  it('gives no round for zero rounds', () => {
    expect(scaleSchedule([1000], 0)).toEqual([]);
  });
});

describe('pairedRatio', () => {
  it('divides each round by the same round of the base size, then takes the median', () => {
    // Round 1 ran on a busier host (both sizes slower): pairing removes it, unpaired medians would not.
    const samples = [
      sample(1000, 0, 10),
      sample(1_000_000, 0, 11),
      sample(1000, 1, 20),
      sample(1_000_000, 1, 21),
      sample(1000, 2, 10),
      sample(1_000_000, 2, 13),
    ];
    const result = pairedRatio(samples, 'tessera-node-memory', 'read', 1_000_000, 1000);
    expect(result.ratios).toEqual([1.1, 1.05, 1.3]);
    expect(result.median).toBeCloseTo(1.1, 10);
  });

  it('leaves out a round the base size lacks, and other scenarios and configurations', () => {
    const samples = [
      sample(1000, 0, 10),
      sample(1_000_000, 0, 12),
      sample(1_000_000, 1, 99),
      sample(1000, 0, 1, 'hit'),
      { ...sample(1000, 0, 1), config: 'tessera-node-redis' },
    ];
    const result = pairedRatio(samples, 'tessera-node-memory', 'read', 1_000_000, 1000);
    expect(result.ratios).toEqual([1.2]);
  });

  it('is NaN when no round has both sizes', () => {
    expect(
      pairedRatio([sample(1000, 0, 10)], 'tessera-node-memory', 'read', 5, 1000).median,
    ).toBeNaN();
  });
});

describe('perSessionDelta', () => {
  it('divides the memory difference of two servers by their session difference', () => {
    expect(
      perSessionDelta(
        { sessions: 1000, bytes: 60_000_000 },
        { sessions: 101_000, bytes: 100_000_000 },
      ),
    ).toBe(400);
  });

  it('is NaN for equal populations', () => {
    expect(perSessionDelta({ sessions: 5, bytes: 1 }, { sessions: 5, bytes: 2 })).toBeNaN();
  });
});

describe('median', () => {
  it('takes the middle value, the mean of the two middle ones for an even count, and skips NaN', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([Number.NaN, 5])).toBe(5);
    expect(median([])).toBeNaN();
  });
});
