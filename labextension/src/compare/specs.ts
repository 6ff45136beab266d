/**
 * Vega-Lite specs of the compare view, built by pure functions from the trials and metric
 * points (no DOM): the overlaid curves of one metric and the parameter importances. The
 * parallel-coordinates plot is in `parallel.ts`. JupyterLab renders them (vega5-extension).
 */
import type { IMetricPoint } from '../types';
import { finiteValue } from './trials';

/** The mime type JupyterLab's Vega renderer takes Vega-Lite 5 specs under. */
export const VEGALITE_MIME = 'application/vnd.vegalite.v5+json';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** A Vega-Lite spec (plain JSON). */
export type VegaLiteSpec = { [key: string]: any };

/** Colours and font of the charts, read from JupyterLab's `--jp-*` theme variables. */
export interface IChartTheme {
  font: string;
  /** Labels and titles. */
  text: string;
  /** Secondary labels (axis ticks of the parallel plot). */
  muted: string;
  /** Grid lines and axes. */
  grid: string;
  /** Bars. */
  accent: string;
  /** The best trial's line. */
  best: string;
  /** A dark theme: colour scales avoid their darkest end. */
  dark: boolean;
}

/** Trials shown with a colour legend at most; more get tooltips only. */
export const MAX_LEGEND_TRIALS = 20;

/** Points per trial above which curves are drawn without point marks. */
export const MAX_POINT_MARKS = 60;

/** Points per trial and curve at most (longer series are thinned evenly, the last kept). */
export const MAX_CURVE_POINTS = 500;

/** The Vega-Lite `config` that makes a chart follow the JupyterLab theme. */
export function chartConfig(theme: IChartTheme): VegaLiteSpec {
  const axis = {
    labelColor: theme.text,
    titleColor: theme.text,
    gridColor: theme.grid,
    domainColor: theme.grid,
    tickColor: theme.grid,
    labelFont: theme.font,
    titleFont: theme.font
  };
  return {
    background: null,
    font: theme.font,
    view: { stroke: null },
    axis,
    legend: {
      labelColor: theme.text,
      titleColor: theme.text,
      labelFont: theme.font,
      titleFont: theme.font
    },
    title: { color: theme.text, font: theme.font }
  };
}

/** One point of one trial's curve. */
export interface ICurveRow {
  trial: string;
  step: number;
  value: number;
  best: boolean;
}

/** Names of the metrics seen in the points, in first-seen order. */
export function metricNames(points: ReadonlyArray<IMetricPoint>): string[] {
  const names = new Set<string>();
  for (const point of points) {
    names.add(point.name);
  }
  return Array.from(names);
}

/** Keep at most `max` items, evenly spaced, always the first and the last. */
export function thin<T>(items: ReadonlyArray<T>, max: number): T[] {
  if (items.length <= max || max < 2) {
    return items.slice();
  }
  const result: T[] = [];
  const stride = (items.length - 1) / (max - 1);
  for (let i = 0; i < max; i++) {
    result.push(items[Math.round(i * stride)]);
  }
  return result;
}

/**
 * The rows of the curves of one metric: one series per trial, ordered by step. Where a
 * resumed attempt reported a step again, its value replaces the earlier one. Missing and
 * non-finite values (NaN) are left out.
 */
export function curveRows(
  points: ReadonlyArray<IMetricPoint>,
  metric: string,
  bestId: string | null,
  maxPoints = MAX_CURVE_POINTS
): ICurveRow[] {
  const byTrial = new Map<string, Map<number, IMetricPoint>>();
  for (const point of points) {
    if (point.name !== metric) {
      continue;
    }
    let steps = byTrial.get(point.trial_id);
    if (!steps) {
      steps = new Map();
      byTrial.set(point.trial_id, steps);
    }
    const held = steps.get(point.step);
    if (!held || newer(point, held)) {
      steps.set(point.step, point);
    }
  }
  const rows: ICurveRow[] = [];
  const trials = Array.from(byTrial.keys()).sort(byTrialId);
  for (const trial of trials) {
    const series = Array.from(byTrial.get(trial)!.values())
      .filter(p => finiteValue(p.value) !== null)
      .sort((a, b) => a.step - b.step);
    for (const p of thin(series, maxPoints)) {
      rows.push({
        trial,
        step: p.step,
        value: p.value,
        best: trial === bestId
      });
    }
  }
  return rows;
}

/** Whether `a` supersedes `b` (same trial and step): a later attempt, or a later report. */
function newer(a: IMetricPoint, b: IMetricPoint): boolean {
  const attempt = (a.attempt ?? 0) - (b.attempt ?? 0);
  return attempt > 0 || (attempt === 0 && a.seq > b.seq);
}

/** Trial ids in job order ("7-2" before "7-10"). */
export function byTrialId(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true });
}

/** All trials' curves of one metric overlaid: x = step, one line per trial, the best on top. */
export function curvesSpec(
  rows: ReadonlyArray<ICurveRow>,
  metric: string,
  theme: IChartTheme,
  height = 260
): VegaLiteSpec {
  const trials = Array.from(new Set(rows.map(r => r.trial)));
  const perTrial = Math.max(
    0,
    ...trials.map(t => rows.filter(r => r.trial === t).length)
  );
  const points = perTrial <= MAX_POINT_MARKS;
  const tooltip = [
    { field: 'trial', type: 'nominal', title: 'trial' },
    { field: 'step', type: 'quantitative', title: 'step' },
    { field: 'value', type: 'quantitative', title: metric, format: '.4~g' }
  ];
  const layer: VegaLiteSpec[] = [
    {
      mark: { type: 'line', point: points, strokeWidth: 1.5, opacity: 0.65 },
      encoding: {
        color: {
          field: 'trial',
          type: 'nominal',
          title: 'trial',
          scale: { domain: trials },
          legend: trials.length <= MAX_LEGEND_TRIALS ? {} : null
        },
        tooltip
      }
    }
  ];
  if (rows.some(r => r.best)) {
    layer.push({
      transform: [{ filter: 'datum.best' }],
      mark: {
        type: 'line',
        point: { filled: true, size: 40, color: theme.best },
        strokeWidth: 3.5,
        color: theme.best
      },
      encoding: { tooltip }
    });
  }
  return {
    $schema: SCHEMA,
    width: 'container',
    height,
    autosize: { type: 'fit-x', contains: 'padding' },
    config: chartConfig(theme),
    data: { values: rows },
    encoding: {
      x: {
        field: 'step',
        type: 'quantitative',
        title: 'step',
        axis: { tickMinStep: 1 }
      },
      y: {
        field: 'value',
        type: 'quantitative',
        title: metric,
        scale: { zero: false }
      }
    },
    layer
  };
}

/** One bar of the importance chart. */
export interface IImportanceRow {
  param: string;
  importance: number;
}

/** Parameter importances, largest first; non-finite ones left out. */
export function importanceRows(
  importance: { [param: string]: unknown } | null | undefined
): IImportanceRow[] {
  return Object.entries(importance ?? {})
    .filter(([, value]) => finiteValue(value) !== null)
    .map(([param, value]) => ({ param, importance: value as number }))
    .sort(
      (a, b) => b.importance - a.importance || a.param.localeCompare(b.param)
    );
}

/** Horizontal bars: one per hyperparameter, longest on top. */
export function importanceSpec(
  rows: ReadonlyArray<IImportanceRow>,
  theme: IChartTheme
): VegaLiteSpec {
  return {
    $schema: SCHEMA,
    width: 'container',
    height: Math.max(1, rows.length) * 22,
    autosize: { type: 'fit-x', contains: 'padding' },
    config: chartConfig(theme),
    data: { values: rows },
    mark: { type: 'bar', color: theme.accent, cornerRadiusEnd: 2 },
    encoding: {
      y: {
        field: 'param',
        type: 'nominal',
        title: null,
        sort: rows.map(r => r.param)
      },
      x: {
        field: 'importance',
        type: 'quantitative',
        title: 'importance',
        axis: { format: '.0%' }
      },
      tooltip: [
        { field: 'param', type: 'nominal', title: 'hyperparameter' },
        { field: 'importance', type: 'quantitative', format: '.1%' }
      ]
    }
  };
}
