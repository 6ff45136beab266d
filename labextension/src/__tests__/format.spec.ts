/** Unit tests of the formatting helpers the views share. */
import {
  formatMetric,
  jobWorkersText,
  numericMetrics,
  trialLeaseText
} from '../format';
import { job, trial } from './fixtures';

describe('jobWorkersText', () => {
  it("lists the job's workers as the server reports them, in its order", () => {
    const j = job(7, 'running', { workers: ['w2', 'w1'] });
    expect(jobWorkersText(j)).toBe('w2, w1 (any)');
    expect(jobWorkersText({ ...j, worker: 'w2' })).toBe('w2, w1');
  });

  it('falls back to the requested worker while no trial was leased', () => {
    expect(jobWorkersText(job(7))).toBe('any');
    expect(jobWorkersText(job(7, 'queued', { worker: 'gpu-box' }))).toBe(
      'gpu-box'
    );
  });

  it("takes the server's list, not the trials held by the panel", () => {
    const leased = trial(7, 0, { worker_id: 1, worker_name: 'w1' });
    expect(jobWorkersText(job(7, 'running', { trials: [leased] }))).toBe('any');
  });
});

describe('trialLeaseText', () => {
  it('shows the worker, a repeated attempt and the resume epoch', () => {
    expect(trialLeaseText(trial(7, 0))).toBe('');
    expect(trialLeaseText(trial(7, 0, { worker_name: 'w1', attempt: 1 }))).toBe(
      'on w1'
    );
    expect(
      trialLeaseText(
        trial(7, 0, { worker_name: 'w2', attempt: 2, resumed_from_epoch: 3 })
      )
    ).toBe('on w2 · attempt 2 · resumed from epoch 3');
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

  it('shows a diverged value (sent as text) as NaN, not as quoted JSON', () => {
    expect(formatMetric('test_loss', 'NaN')).toBe('NaN');
    expect(formatMetric('test_accuracy', '-Infinity')).toBe('-Infinity');
    expect(numericMetrics({ test_loss: 'NaN', note: 'text', b: 1 })).toEqual([
      ['test_loss', 'NaN'],
      ['b', 1]
    ]);
  });
});
