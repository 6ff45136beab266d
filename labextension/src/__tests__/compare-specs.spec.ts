/** The compare view's Vega-Lite spec builders: data and encodings from fixtures. */
import {
  axisScale,
  normalize,
  parallelData,
  parallelSpec
} from '../compare/parallel';
import {
  chartConfig,
  curveRows,
  curvesSpec,
  importanceRows,
  importanceSpec,
  MAX_LEGEND_TRIALS,
  metricNames,
  thin
} from '../compare/specs';
import { mp, searchTrials, theme } from './compare-fixtures';

describe('curve rows', () => {
  const points = [
    mp(1, '7-1', 'test_accuracy', 1, 0.5),
    mp(2, '7-0', 'test_accuracy', 1, 0.4),
    mp(3, '7-0', 'loss', 10, 2.3),
    mp(4, '7-1', 'test_accuracy', 2, 0.7),
    mp(5, '7-10', 'test_accuracy', 1, 0.2),
    // A resumed attempt reports step 2 again: its value wins.
    mp(6, '7-1', 'test_accuracy', 2, 0.75, 2),
    mp(7, '7-0', 'test_accuracy', 2, NaN),
    mp(8, '7-1', 'test_accuracy', 3, null as any, 2)
  ];

  it('lists metric names in first-seen order', () => {
    expect(metricNames(points)).toEqual(['test_accuracy', 'loss']);
  });

  it('keeps one series per trial, by step, latest attempt, finite values only', () => {
    expect(curveRows(points, 'test_accuracy', '7-1')).toEqual([
      { trial: '7-0', step: 1, value: 0.4, best: false },
      { trial: '7-1', step: 1, value: 0.5, best: true },
      { trial: '7-1', step: 2, value: 0.75, best: true },
      { trial: '7-10', step: 1, value: 0.2, best: false }
    ]);
  });

  it('does not let an earlier attempt replace a later one', () => {
    const rows = curveRows(
      [mp(1, '7-0', 'm', 1, 0.9, 2), mp(2, '7-0', 'm', 1, 0.1, 1)],
      'm',
      null
    );
    expect(rows).toEqual([{ trial: '7-0', step: 1, value: 0.9, best: false }]);
  });

  it('thins long series evenly, keeping both ends', () => {
    const items = Array.from({ length: 1001 }, (_, i) => i);
    const kept = thin(items, 11);
    expect(kept).toEqual([
      0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000
    ]);
    expect(thin([1, 2], 11)).toEqual([1, 2]);
    const many = Array.from({ length: 50 }, (_, i) =>
      mp(i + 1, '7-0', 'loss', i, i)
    );
    expect(curveRows(many, 'loss', null, 10)).toHaveLength(10);
  });
});

describe('curves spec', () => {
  const rows = curveRows(
    [
      mp(1, '7-0', 'test_loss', 1, 0.9),
      mp(2, '7-0', 'test_loss', 2, 0.6),
      mp(3, '7-1', 'test_loss', 1, 0.8),
      mp(4, '7-1', 'test_loss', 2, 0.3)
    ],
    'test_loss',
    '7-1'
  );
  const spec = curvesSpec(rows, 'test_loss', theme);

  it('plots value against step, one coloured line per trial', () => {
    expect(spec.$schema).toContain('vega-lite/v5');
    expect(spec.data.values).toBe(rows);
    expect(spec.encoding.x).toMatchObject({
      field: 'step',
      type: 'quantitative'
    });
    expect(spec.encoding.y).toMatchObject({
      field: 'value',
      type: 'quantitative',
      title: 'test_loss'
    });
    const color = spec.layer[0].encoding.color;
    expect(color).toMatchObject({ field: 'trial', type: 'nominal' });
    expect(color.scale.domain).toEqual(['7-0', '7-1']);
    expect(spec.layer[0].mark).toMatchObject({ type: 'line', point: true });
  });

  it('draws the best trial on top in the theme colour', () => {
    expect(spec.layer).toHaveLength(2);
    expect(spec.layer[1].transform).toEqual([{ filter: 'datum.best' }]);
    expect(spec.layer[1].mark).toMatchObject({
      type: 'line',
      color: theme.best
    });
  });

  it('has no best layer without a best trial, and no legend for many trials', () => {
    const many = Array.from({ length: MAX_LEGEND_TRIALS + 1 }, (_, i) =>
      mp(i + 1, `7-${i}`, 'm', 1, i)
    );
    const plain = curvesSpec(curveRows(many, 'm', null), 'm', theme);
    expect(plain.layer).toHaveLength(1);
    expect(plain.layer[0].encoding.color.legend).toBeNull();
  });

  it('drops point marks on long curves', () => {
    const long = Array.from({ length: 100 }, (_, i) =>
      mp(i + 1, '7-0', 'loss', i, 1 / (i + 1))
    );
    const spec = curvesSpec(curveRows(long, 'loss', null), 'loss', theme);
    expect(spec.layer[0].mark.point).toBe(false);
  });

  it('takes its colours from the theme', () => {
    expect(spec.config).toEqual(chartConfig(theme));
    expect(spec.config.axis).toMatchObject({
      labelColor: theme.text,
      gridColor: theme.grid
    });
    expect(spec.config.background).toBeNull();
  });
});

describe('importance', () => {
  it('orders the bars largest first, leaving out non-numbers', () => {
    const rows = importanceRows({ A: 0.1, B: 0.7, C: null, D: 0.2 });
    expect(rows).toEqual([
      { param: 'B', importance: 0.7 },
      { param: 'D', importance: 0.2 },
      { param: 'A', importance: 0.1 }
    ]);
    expect(importanceRows(undefined)).toEqual([]);
    const spec = importanceSpec(rows, theme);
    expect(spec.mark).toMatchObject({ type: 'bar', color: theme.accent });
    expect(spec.encoding.y).toMatchObject({
      field: 'param',
      sort: ['B', 'D', 'A']
    });
    expect(spec.encoding.x).toMatchObject({
      field: 'importance',
      type: 'quantitative'
    });
    expect(spec.data.values).toBe(rows);
  });
});

describe('parallel coordinates', () => {
  it('scales numbers linearly, wide positive ranges logarithmically, the rest as categories', () => {
    expect(axisScale([1, 2, 3])).toMatchObject({
      kind: 'linear',
      min: 1,
      max: 3
    });
    expect(axisScale([0.0001, 0.1])).toMatchObject({ kind: 'log' });
    const cat = axisScale(['sgd', 'adam', 'sgd']);
    expect(cat).toMatchObject({
      kind: 'category',
      categories: ['adam', 'sgd']
    });
    expect(normalize(axisScale([1, 2, 3]), 2)).toBeCloseTo(0.5);
    expect(normalize(axisScale([0.0001, 0.01]), 0.001)).toBeCloseTo(0.5);
    expect(normalize(cat, 'sgd')).toBe(1);
    expect(normalize(axisScale([5, 5]), 5)).toBe(0.5);
  });

  it('has an axis per varying hyperparameter, then the metric, for finished trials', () => {
    const data = parallelData(searchTrials(), 'test_accuracy', '7-1');
    expect(data.dims).toEqual(['LEARNING_RATE', 'OPTIMIZER', 'test_accuracy']);
    expect(new Set(data.rows.map(r => r.trial))).toEqual(
      new Set(['7-0', '7-1'])
    );
    const best = data.rows.filter(r => r.trial === '7-1');
    expect(best.map(r => [r.dim, r.pos, r.norm, r.label])).toEqual([
      ['LEARNING_RATE', 0, 0, '0.001'],
      ['OPTIMIZER', 1, 0, 'adam'],
      ['test_accuracy', 2, 1, '93.0%']
    ]);
    expect(best.every(r => r.best && r.objective === 0.93)).toBe(true);
    expect(data.ticks).toContainEqual({
      dim: 'OPTIMIZER',
      norm: 1,
      label: 'sgd'
    });
    expect(data.ticks).toContainEqual({
      dim: 'LEARNING_RATE',
      norm: 1,
      label: '0.1'
    });
  });

  it('builds layers: axes, lines coloured by the metric, the best on top, labels', () => {
    const data = parallelData(searchTrials(), 'test_accuracy', '7-1');
    const spec = parallelSpec(data, 'test_accuracy', 'maximize', theme);
    const [axes, lines, halo, best, labels] = spec.layer;
    expect(spec.layer).toHaveLength(5);
    expect(halo.data.values).toEqual(best.data.values);
    expect(axes.mark.type).toBe('rule');
    expect(axes.data.values).toEqual(data.dims.map(dim => ({ dim })));
    expect(lines.encoding.x.scale.domain).toEqual(data.dims);
    expect(lines.encoding.y.field).toBe('norm');
    const [low, high] = lines.encoding.y.scale.domain;
    expect(low).toBeLessThan(0);
    expect(high).toBeGreaterThan(1);
    expect(axes.encoding.y.datum).toBe(0);
    expect(axes.encoding.y2.datum).toBe(1);
    expect(lines.encoding.detail).toMatchObject({ field: 'trial' });
    expect(lines.encoding.order).toMatchObject({ field: 'pos' });
    expect(lines.encoding.color).toMatchObject({
      field: 'objective',
      type: 'quantitative',
      scale: { reverse: false }
    });
    expect(best.data.values.every((r: any) => r.trial === '7-1')).toBe(true);
    expect(best.mark.color).toBe(theme.best);
    expect(labels.mark.type).toBe('text');
    expect(labels.data.values).toBe(data.ticks);
    const min = parallelSpec(data, 'test_accuracy', 'minimize', theme);
    expect(min.layer[1].encoding.color.scale.reverse).toBe(true);
    // On a dark background the scale skips its darkest colours.
    const dark = parallelSpec(data, 'test_accuracy', 'maximize', {
      ...theme,
      dark: true
    });
    expect(dark.layer[1].encoding.color.scale.scheme.extent[0]).toBeGreaterThan(
      0
    );
  });

  it('has no lines when no trial finished with the metric', () => {
    const data = parallelData(searchTrials(), 'f1', null);
    expect(data.rows).toEqual([]);
    expect(parallelSpec(data, 'f1', 'maximize', theme).layer).toHaveLength(3);
  });
});
