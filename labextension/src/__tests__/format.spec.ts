/** Unit tests of the formatting helpers the views share. */
import {
  formatMetric,
  hasFailedTrials,
  jobWorkers,
  jobWorkersText,
  numericMetrics,
  trialLeaseText
} from '../format';
import { IJob, ITrial } from '../types';

function trial(index: number, extra: Partial<ITrial> = {}): ITrial {
  return {
    id: `7-${index}`,
    job_id: 7,
    index,
    params: {},
    status: 'pending',
    worker_id: null,
    worker_name: null,
    attempt: 0,
    started: null,
    finished: null,
    error: null,
    model_id: null,
    epoch: null,
    epochs: null,
    batch: null,
    batches: null,
    metrics: {},
    checkpoint_epoch: null,
    resumed_from_epoch: null,
    ...extra
  };
}

function job(extra: Partial<IJob> = {}): IJob {
  return {
    id: 7,
    worker: 'any',
    conf: {},
    status: 'running',
    error: null,
    created: '2026-01-01T00:00:00Z',
    started: null,
    finished: null,
    trial_count: 3,
    trials_done: 0,
    progress: 0,
    cancel_requested: false,
    ...extra
  };
}

describe('jobWorkers', () => {
  it('lists the distinct workers of the trials, in trial order', () => {
    const j = job({
      trials: [
        trial(0, { worker_id: 2, worker_name: 'w2', status: 'finished' }),
        trial(1, { worker_id: 1, worker_name: 'w1', status: 'running' }),
        trial(2, { worker_id: 2, worker_name: 'w2', status: 'running' }),
        trial(3)
      ]
    });
    expect(jobWorkers(j)).toEqual(['w2', 'w1']);
    expect(jobWorkersText(j)).toBe('w2, w1 (any)');
    expect(jobWorkersText({ ...j, worker: 'w2' })).toBe('w2, w1');
  });

  it('falls back to the requested worker while no trial was leased', () => {
    expect(jobWorkers(job())).toEqual([]);
    expect(jobWorkersText(job())).toBe('any');
    expect(jobWorkersText(job({ worker: 'gpu-box', trials: [trial(0)] }))).toBe(
      'gpu-box'
    );
  });
});

describe('trialLeaseText', () => {
  it('shows the worker, a repeated attempt and the resume epoch', () => {
    expect(trialLeaseText(trial(0))).toBe('');
    expect(trialLeaseText(trial(0, { worker_name: 'w1', attempt: 1 }))).toBe(
      'on w1'
    );
    expect(
      trialLeaseText(
        trial(0, { worker_name: 'w2', attempt: 2, resumed_from_epoch: 3 })
      )
    ).toBe('on w2 · attempt 2 · resumed from epoch 3');
  });
});

describe('hasFailedTrials', () => {
  it('looks at the trials, or at the status when they are not loaded', () => {
    expect(hasFailedTrials(job({ status: 'failed' }))).toBe(true);
    expect(hasFailedTrials(job({ status: 'finished' }))).toBe(false);
    expect(
      hasFailedTrials(
        job({ status: 'finished', trials: [trial(0, { status: 'failed' })] })
      )
    ).toBe(true);
    expect(
      hasFailedTrials(
        job({ status: 'failed', trials: [trial(0, { status: 'pending' })] })
      )
    ).toBe(false);
  });
});

describe('numericMetrics', () => {
  it('keeps numbers, main metrics first, and leaves structured values out', () => {
    // the shape a real notebook worker reports at the end of a trial
    const metrics = {
      train_loss: 0.36,
      per_class_accuracy: { airplane: 0.94, automobile: 1 },
      test_loss: 0.097,
      images_per_second: 1880,
      test_accuracy: 0.962,
      note: 'text'
    };
    expect(numericMetrics(metrics)).toEqual([
      ['test_accuracy', 0.962],
      ['test_loss', 0.097],
      ['images_per_second', 1880],
      ['train_loss', 0.36]
    ]);
  });

  it('accepts missing metrics', () => {
    expect(numericMetrics(null)).toEqual([]);
    expect(numericMetrics(undefined)).toEqual([]);
    expect(numericMetrics({})).toEqual([]);
  });
});

describe('formatMetric', () => {
  it('shows accuracies as percents and other numbers to 4 digits', () => {
    expect(formatMetric('test_accuracy', 0.962)).toBe('96.2%');
    expect(formatMetric('test_loss', 0.09697)).toBe('0.09697');
    expect(formatMetric('images_per_second', 1880)).toBe('1880');
  });
});
