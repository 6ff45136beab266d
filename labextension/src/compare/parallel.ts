/**
 * The parallel-coordinates plot of the hyperparameters against one metric, as a pure
 * Vega-Lite spec builder. Every axis is scaled to [0, 1] here, so the spec stays simple:
 * numbers linearly (logarithmically when they span two decades or more), anything else as
 * evenly spaced categories; the axes' end labels are text marks.
 */
import { formatMetric } from '../format';
import type { ITrial, SearchDirection } from '../types';
import { chartConfig, IChartTheme, VegaLiteSpec } from './specs';
import { formatParam } from './table';
import { finiteValue } from './trials';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** How one axis maps values to [0, 1]. */
export interface IAxisScale {
  kind: 'linear' | 'log' | 'category';
  min: number;
  max: number;
  /** The categories, in axis order (kind `category`). */
  categories: string[];
}

/** One vertex of one trial's polyline. */
export interface IParallelRow {
  trial: string;
  dim: string;
  pos: number;
  norm: number;
  label: string;
  objective: number;
  best: boolean;
}

/** One label on an axis. */
export interface IParallelTick {
  dim: string;
  norm: number;
  label: string;
}

/** The data of the plot: axes left to right (the metric last), polylines and labels. */
export interface IParallelData {
  dims: string[];
  rows: IParallelRow[];
  ticks: IParallelTick[];
}

/** The scale of an axis over these values. */
export function axisScale(values: ReadonlyArray<unknown>): IAxisScale {
  const numbers = values.filter((v): v is number => finiteValue(v) !== null);
  if (numbers.length && numbers.length === values.length) {
    const min = Math.min(...numbers);
    const max = Math.max(...numbers);
    const kind = min > 0 && max / min >= 100 ? 'log' : 'linear';
    return { kind, min, max, categories: [] };
  }
  const categories = Array.from(new Set(values.map(formatParam))).sort((a, b) =>
    a.localeCompare(b, undefined, { numeric: true })
  );
  return { kind: 'category', min: 0, max: 0, categories };
}

/** A value's position on its axis, in [0, 1] (0.5 when the axis has one value). */
export function normalize(scale: IAxisScale, value: unknown): number {
  if (scale.kind === 'category') {
    const n = scale.categories.length;
    return n < 2 ? 0.5 : scale.categories.indexOf(formatParam(value)) / (n - 1);
  }
  const f = scale.kind === 'log' ? Math.log10 : (x: number) => x;
  const low = f(scale.min);
  const high = f(scale.max);
  return high === low ? 0.5 : (f(value as number) - low) / (high - low);
}

/**
 * The plot's data: the finished trials with a finite value of `metric`, one axis per
 * hyperparameter that varies among them (all of them if none varies), then the metric.
 */
export function parallelData(
  trials: ReadonlyArray<ITrial>,
  metric: string,
  bestId: string | null
): IParallelData {
  const shown = trials.filter(
    t => t.status === 'finished' && finiteValue(t.metrics?.[metric]) !== null
  );
  const keys: string[] = [];
  for (const trial of shown) {
    for (const key of Object.keys(trial.params ?? {})) {
      if (!keys.includes(key) && key !== metric) {
        keys.push(key);
      }
    }
  }
  const varying = keys.filter(
    key => new Set(shown.map(t => formatParam(t.params?.[key]))).size > 1
  );
  const params = varying.length ? varying : keys;
  const dims = [...params, metric];
  const rows: IParallelRow[] = [];
  const ticks: IParallelTick[] = [];
  dims.forEach((dim, pos) => {
    const isMetric = pos === params.length;
    const present = shown.filter(t =>
      isMetric ? true : t.params && dim in t.params
    );
    const value = (t: ITrial) => (isMetric ? t.metrics[metric] : t.params[dim]);
    const scale = axisScale(present.map(value));
    const text = (v: unknown) =>
      isMetric ? formatMetric(metric, v) : formatParam(v);
    for (const trial of present) {
      rows.push({
        trial: trial.id,
        dim,
        pos,
        norm: normalize(scale, value(trial)),
        label: text(value(trial)),
        objective: trial.metrics[metric],
        best: trial.id === bestId
      });
    }
    ticks.push(...axisTicks(dim, scale, text));
  });
  return { dims, rows, ticks };
}

/** The labels of one axis: its categories, or its ends. */
function axisTicks(
  dim: string,
  scale: IAxisScale,
  text: (value: unknown) => string
): IParallelTick[] {
  if (scale.kind === 'category') {
    return scale.categories.map(label => ({
      dim,
      norm: normalize(scale, label),
      label
    }));
  }
  if (scale.min === scale.max) {
    return [{ dim, norm: 0.5, label: text(scale.min) }];
  }
  return [
    { dim, norm: 0, label: text(scale.min) },
    { dim, norm: 1, label: text(scale.max) }
  ];
}

/**
 * Polylines across the axes, coloured by the metric (brighter is better: the scale is
 * reversed when lower is better), the best trial drawn on top in the theme's colour.
 */
export function parallelSpec(
  data: IParallelData,
  metric: string,
  direction: SearchDirection,
  theme: IChartTheme,
  height = 300
): VegaLiteSpec {
  const x = {
    field: 'dim',
    type: 'nominal',
    scale: { domain: data.dims },
    axis: {
      title: null,
      orient: 'top',
      labelAngle: 0,
      domain: false,
      ticks: false,
      grid: false
    }
  };
  const y = {
    field: 'norm',
    type: 'quantitative',
    // Room above and below the axes for their end labels.
    scale: { domain: [-0.06, 1.06] },
    axis: null
  };
  const line = {
    x,
    y,
    detail: { field: 'trial', type: 'nominal' },
    order: { field: 'pos', type: 'quantitative' },
    tooltip: [
      { field: 'trial', type: 'nominal', title: 'trial' },
      { field: 'dim', type: 'nominal', title: 'axis' },
      { field: 'label', type: 'nominal', title: 'value' }
    ]
  };
  const layer: VegaLiteSpec[] = [
    {
      data: { values: data.dims.map(dim => ({ dim })) },
      mark: { type: 'rule', color: theme.grid },
      encoding: {
        x,
        y: { datum: 0, type: 'quantitative', scale: y.scale, axis: null },
        y2: { datum: 1 }
      }
    },
    {
      data: { values: data.rows },
      mark: { type: 'line', strokeWidth: 1.5, opacity: 0.75 },
      encoding: {
        ...line,
        color: {
          field: 'objective',
          type: 'quantitative',
          title: metric,
          scale: {
            scheme: {
              name: 'viridis',
              extent: theme.dark ? [0.3, 1] : [0, 0.9]
            },
            reverse: direction === 'minimize'
          }
        }
      }
    }
  ];
  if (data.rows.some(r => r.best)) {
    // A halo in the text colour sets the best line apart from the colour scale's own hues.
    const values = data.rows.filter(r => r.best);
    layer.push(
      {
        data: { values },
        mark: { type: 'line', strokeWidth: 7, color: theme.text, opacity: 0.7 },
        encoding: line
      },
      {
        data: { values },
        mark: { type: 'line', strokeWidth: 3.5, color: theme.best },
        encoding: line
      }
    );
  }
  layer.push({
    data: { values: data.ticks },
    mark: {
      type: 'text',
      align: 'left',
      dx: 4,
      fontSize: 10,
      color: theme.muted
    },
    encoding: { x, y, text: { field: 'label', type: 'nominal' } }
  });
  return {
    $schema: SCHEMA,
    width: 'container',
    height,
    autosize: { type: 'fit-x', contains: 'padding' },
    config: chartConfig(theme),
    layer
  };
}
