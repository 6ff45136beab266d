/**
 * Pure helpers of the compare view over a job's trials: merging trial updates, the
 * objective, the best trial so far and the search settings to judge by.
 */
import type {
  ISearchBest,
  ISearchSettings,
  ISearchSummary,
  ITrial,
  JSONObject,
  TrialStatus
} from '../types';

/** Trial states after which a trial changes no more (unless a retry re-queues it). */
export const FINAL_TRIAL_STATES: ReadonlyArray<TrialStatus> = [
  'finished',
  'failed',
  'cancelled',
  'pruned'
];

/** Every trial status, in the order the status filter lists them. */
export const TRIAL_STATES: ReadonlyArray<TrialStatus> = [
  'pending',
  'running',
  'finished',
  'pruned',
  'failed',
  'cancelled'
];

/** The objective the hub deploys by when a job says nothing else (`MLOpsApp.deploy_metric`). */
export const DEFAULT_METRIC = 'test_accuracy';

/** Trials in grid / sampling order. */
export function sortTrials(trials: Iterable<ITrial>): ITrial[] {
  return Array.from(trials).sort(
    (a, b) =>
      a.index - b.index ||
      a.id.localeCompare(b.id, undefined, { numeric: true })
  );
}

/**
 * Merge trial updates into the trials held, by id. A `job` event may carry only the trials
 * that changed. With `snapshot` (a REST answer, which may be older than events already
 * applied) a trial held in a final state does not go back to an earlier one.
 */
export function mergeTrials(
  held: ReadonlyMap<string, ITrial>,
  incoming: ReadonlyArray<ITrial>,
  snapshot = false
): Map<string, ITrial> {
  const result = new Map(held);
  for (const trial of incoming) {
    const old = result.get(trial.id);
    if (
      snapshot &&
      old &&
      FINAL_TRIAL_STATES.includes(old.status) &&
      !FINAL_TRIAL_STATES.includes(trial.status)
    ) {
      continue;
    }
    result.set(trial.id, old ? { ...old, ...trial } : trial);
  }
  return result;
}

/** A metric value as a finite number, or null (missing, null, NaN, a structured value). */
export function finiteValue(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * The search settings to judge trials by: the server's, else the conf's `search` section,
 * else a grid judged by the hub's deploy metric.
 */
export function searchSettings(
  summary: ISearchSummary | null,
  conf: JSONObject | null | undefined
): ISearchSettings {
  if (summary?.search) {
    return summary.search;
  }
  const section: JSONObject =
    conf && typeof conf.search === 'object' && conf.search ? conf.search : {};
  return {
    method: section.method ?? 'grid',
    metric: section.metric ?? DEFAULT_METRIC,
    direction: section.direction === 'minimize' ? 'minimize' : 'maximize',
    budget: section.budget ?? null,
    parallel: section.parallel ?? null,
    pruner:
      typeof section.pruner === 'string'
        ? { type: section.pruner }
        : (section.pruner ?? null)
  };
}

/** Whether `a` is better than `b` in this direction. */
export function isBetter(
  a: number,
  b: number,
  direction: ISearchSettings['direction']
): boolean {
  return direction === 'minimize' ? a < b : a > b;
}

/** The best finished trial by the objective, computed from the trials held. */
export function bestFinished(
  trials: Iterable<ITrial>,
  settings: ISearchSettings
): ISearchBest | null {
  let best: ISearchBest | null = null;
  for (const trial of trials) {
    if (trial.status !== 'finished') {
      continue;
    }
    const value = finiteValue(trial.metrics?.[settings.metric]);
    if (
      value !== null &&
      (!best || isBetter(value, best.value, settings.direction))
    ) {
      best = { trial_id: trial.id, value };
    }
  }
  return best;
}

/**
 * The best trial so far: the server's, unless a trial that finished since it answered is
 * better (the summary is re-read after trials end, but events come first).
 */
export function bestTrial(
  trials: Iterable<ITrial>,
  settings: ISearchSettings,
  summary: ISearchSummary | null
): ISearchBest | null {
  const local = bestFinished(trials, settings);
  const remote = summary?.best ?? null;
  if (!remote || remote.value === null || remote.value === undefined) {
    return local;
  }
  if (!local) {
    return remote;
  }
  return isBetter(local.value, remote.value, settings.direction)
    ? local
    : remote;
}
