/** Unit tests of how a job's metric points become curves: a resumed trial's points. */
import { groupMetrics } from '../state/curves';
import type { IMetricPoint } from '../types';

function point(
  seq: number,
  step: number,
  value: number,
  attempt?: number
): IMetricPoint {
  return {
    seq,
    job_id: 7,
    trial_id: '7-0',
    name: 'loss',
    step,
    value,
    time: '2026-01-01T00:00:00Z',
    attempt
  };
}

describe('groupMetrics', () => {
  it('keeps one value per step, the newest attempt winning', () => {
    // attempt 1 reached step 6; attempt 2 resumed from the checkpoint at step 4
    const points = [1, 2, 3, 4, 5, 6].map(s => point(s, s, 10 - s, 1));
    points.push(point(7, 5, 4.5, 2), point(8, 6, 3.5, 2), point(9, 7, 2.5, 2));
    const curve = groupMetrics(points).get('7-0')!.get('loss')!;
    expect(curve.map(p => p.x)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(curve.map(p => p.y)).toEqual([9, 8, 7, 6, 4.5, 3.5, 2.5]);
  });

  it('still draws points of hubs that send no attempt', () => {
    const curve = groupMetrics([point(1, 2, 1), point(2, 1, 2)])
      .get('7-0')!
      .get('loss')!;
    expect(curve).toEqual([
      { x: 1, y: 2 },
      { x: 2, y: 1 }
    ]);
  });
});
