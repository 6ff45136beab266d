/** Fixtures of the compare view's specs: a small TPE search with pruned trials. */
import type { IChartTheme } from '../compare/specs';
import type { IMetricPoint, ISearchSummary, ITrial } from '../types';
import { trial } from './fixtures';

export const theme: IChartTheme = {
  font: 'Inter',
  text: '#111111',
  muted: '#666666',
  grid: '#dddddd',
  accent: '#1976d2',
  best: '#388e3c',
  dark: false
};

/** A metric point of job 7. */
export function mp(
  seq: number,
  trialId: string,
  name: string,
  step: number,
  value: number,
  attempt = 1
): IMetricPoint {
  return {
    seq,
    job_id: 7,
    trial_id: trialId,
    name,
    step,
    value,
    attempt,
    time: '2026-01-01T00:00:00Z'
  };
}

/**
 * Four trials of job 7: two finished (7-1 best on test_accuracy), one pruned at epoch 2 of
 * 5, one running. OPTIMIZER is categorical, LEARNING_RATE spans three decades, BATCH_SIZE
 * never varies.
 */
export function searchTrials(): ITrial[] {
  return [
    trial(7, 0, {
      status: 'finished',
      worker_name: 'w1',
      params: { LEARNING_RATE: 0.1, OPTIMIZER: 'sgd', BATCH_SIZE: 64 },
      metrics: { test_accuracy: 0.81, test_loss: 0.6 },
      started: '2026-01-01T00:00:00Z',
      finished: '2026-01-01T00:02:05Z',
      epoch: 5,
      epochs: 5
    }),
    trial(7, 1, {
      status: 'finished',
      worker_name: 'w2',
      params: { LEARNING_RATE: 0.001, OPTIMIZER: 'adam', BATCH_SIZE: 64 },
      metrics: { test_accuracy: 0.93, test_loss: null as any },
      started: '2026-01-01T00:00:00Z',
      finished: '2026-01-01T00:01:00Z',
      epoch: 5,
      epochs: 5
    }),
    trial(7, 2, {
      status: 'pruned',
      worker_name: 'w1',
      params: { LEARNING_RATE: 0.0001, OPTIMIZER: 'adam', BATCH_SIZE: 64 },
      metrics: { test_accuracy: 0.4 },
      started: '2026-01-01T00:03:00Z',
      finished: '2026-01-01T00:03:30Z',
      epoch: 2,
      epochs: 5
    }),
    trial(7, 3, {
      status: 'running',
      worker_name: 'w2',
      params: { LEARNING_RATE: 0.01, OPTIMIZER: 'sgd', BATCH_SIZE: 64 },
      started: '2026-01-01T00:04:00Z',
      epoch: 1,
      epochs: 5
    })
  ];
}

export function summary(extra: Partial<ISearchSummary> = {}): ISearchSummary {
  return {
    search: {
      method: 'tpe',
      metric: 'test_accuracy',
      direction: 'maximize',
      budget: 20,
      parallel: 2,
      pruner: { type: 'median' }
    },
    best: { trial_id: '7-1', value: 0.93 },
    importance: { LEARNING_RATE: 0.8, OPTIMIZER: 0.15, BATCH_SIZE: 0.05 },
    ...extra
  };
}
