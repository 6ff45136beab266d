import type { IMetricPoint } from '../types';

/** One metric of one trial: points ordered by x (the step). */
export type Series = Map<string, { x: number; y: number }[]>;

/**
 * Metric points grouped by trial, then by metric name, each ordered by step. A resumed trial
 * reports again the steps after its checkpoint: at a step, the newest attempt's value wins,
 * so each curve is continuous and has one value per step.
 */
export function groupMetrics(
  points: ReadonlyArray<IMetricPoint>
): Map<string, Series> {
  const latest = new Map<string, Map<string, Map<number, IMetricPoint>>>();
  for (const point of points) {
    let byName = latest.get(point.trial_id);
    if (!byName) {
      byName = new Map();
      latest.set(point.trial_id, byName);
    }
    let bySteps = byName.get(point.name);
    if (!bySteps) {
      bySteps = new Map();
      byName.set(point.name, bySteps);
    }
    const held = bySteps.get(point.step);
    if (!held || (point.attempt ?? 0) >= (held.attempt ?? 0)) {
      bySteps.set(point.step, point);
    }
  }
  const result = new Map<string, Series>();
  for (const [trial, byName] of latest) {
    const series: Series = new Map();
    for (const [name, bySteps] of byName) {
      series.set(
        name,
        Array.from(bySteps.values(), p => ({ x: p.step, y: p.value })).sort(
          (a, b) => a.x - b.x
        )
      );
    }
    result.set(trial, series);
  }
  return result;
}
