/** Unit tests of the formatting helpers the views share. */
import { formatMetric, numericMetrics } from '../format';

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
