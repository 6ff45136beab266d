/**
 * The trials table of the compare view as pure data: its columns, the text and sort key of
 * every cell, and the filtering and sorting the user picks.
 */
import { formatMetric, MAIN_METRICS } from '../format';
import type { ITrial, TrialStatus } from '../types';
import { finiteValue } from './trials';

export type ColumnKind =
  'trial' | 'status' | 'worker' | 'param' | 'metric' | 'duration' | 'pruned';

/** One column; `name` is the hyperparameter or metric it shows. */
export interface IColumn {
  key: string;
  label: string;
  kind: ColumnKind;
  name?: string;
  /** Numbers: right-aligned. */
  numeric: boolean;
}

/** What a cell shows and how it sorts (null sorts last either way). */
export interface ICell {
  text: string;
  sort: number | string | null;
}

/** One trial as a row of cells keyed by column. */
export interface IRow {
  trial: ITrial;
  best: boolean;
  cells: { [key: string]: ICell };
}

/** Which column sorts the table, and which way. */
export interface ISortState {
  key: string;
  descending: boolean;
}

/** The user's filters: text matched against every cell, and one status or all. */
export interface IFilterState {
  text: string;
  status: TrialStatus | 'all';
}

/**
 * The columns for these trials: id, status, worker, one per hyperparameter (first seen
 * first), one per numeric metric (the objective, then the main ones, then by name; a null
 * value, NaN on the wire, counts as numeric), duration and "pruned at".
 */
export function buildColumns(
  trials: ReadonlyArray<ITrial>,
  objective: string
): IColumn[] {
  const params: string[] = [];
  const metrics = new Set<string>();
  for (const trial of trials) {
    for (const key of Object.keys(trial.params ?? {})) {
      if (!params.includes(key)) {
        params.push(key);
      }
    }
    for (const [key, value] of Object.entries(trial.metrics ?? {})) {
      if (typeof value === 'number' || value === null) {
        metrics.add(key);
      }
    }
  }
  const rank = (name: string) => {
    if (name === objective) {
      return -1;
    }
    const index = MAIN_METRICS.indexOf(name);
    return index < 0 ? MAIN_METRICS.length : index;
  };
  const metricNames = Array.from(metrics).sort(
    (a, b) => rank(a) - rank(b) || a.localeCompare(b)
  );
  return [
    { key: 'trial', label: 'trial', kind: 'trial', numeric: false },
    { key: 'status', label: 'status', kind: 'status', numeric: false },
    { key: 'worker', label: 'worker', kind: 'worker', numeric: false },
    ...params.map((name): IColumn => ({
      key: `param:${name}`,
      label: name,
      kind: 'param',
      name,
      numeric: trials.some(t => typeof t.params?.[name] === 'number')
    })),
    ...metricNames.map((name): IColumn => ({
      key: `metric:${name}`,
      label: name,
      kind: 'metric',
      name,
      numeric: true
    })),
    { key: 'duration', label: 'duration', kind: 'duration', numeric: true },
    { key: 'pruned', label: 'pruned at', kind: 'pruned', numeric: true }
  ];
}

/** A hyperparameter value as short text: numbers to 4 significant digits. */
export function formatParam(value: unknown): string {
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? String(value)
      : String(+value.toPrecision(4));
  }
  if (typeof value === 'string') {
    return value;
  }
  return value === undefined ? '' : JSON.stringify(value);
}

/** "42 s", "3 min 05 s", "2 h 07 min". */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) {
    return '';
  }
  const s = Math.max(0, Math.round(seconds));
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) {
    return `${s} s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  }
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}

/** Seconds from start to end; a running trial's so far (`now`); null when unknown. */
export function trialSeconds(trial: ITrial, now: number): number | null {
  const started = trial.started ? Date.parse(trial.started) : NaN;
  const end = trial.finished
    ? Date.parse(trial.finished)
    : trial.status === 'running'
      ? now
      : NaN;
  return isNaN(started) || isNaN(end) ? null : (end - started) / 1000;
}

/** The cell of one column for one trial. */
export function cellOf(column: IColumn, trial: ITrial, now: number): ICell {
  switch (column.kind) {
    case 'trial':
      return { text: trial.id, sort: trial.index };
    case 'status':
      return { text: trial.status, sort: trial.status };
    case 'worker':
      return { text: trial.worker_name ?? '', sort: trial.worker_name ?? null };
    case 'param': {
      const value = trial.params?.[column.name!];
      const sort =
        typeof value === 'number' || typeof value === 'string' ? value : null;
      return { text: formatParam(value), sort };
    }
    case 'metric': {
      const metrics = trial.metrics ?? {};
      if (!(column.name! in metrics)) {
        return { text: '', sort: null };
      }
      const value = finiteValue(metrics[column.name!]);
      return value === null
        ? { text: 'NaN', sort: null }
        : { text: formatMetric(column.name!, value), sort: value };
    }
    case 'duration': {
      const seconds = trialSeconds(trial, now);
      return { text: formatDuration(seconds), sort: seconds };
    }
    case 'pruned': {
      if (
        trial.status !== 'pruned' ||
        trial.epoch === null ||
        trial.epoch === undefined
      ) {
        return { text: '', sort: null };
      }
      const text = trial.epochs
        ? `${trial.epoch}/${trial.epochs}`
        : `${trial.epoch}`;
      return { text, sort: trial.epoch };
    }
  }
}

/** The rows of these trials; `bestId` marks the best one. */
export function buildRows(
  trials: ReadonlyArray<ITrial>,
  columns: ReadonlyArray<IColumn>,
  bestId: string | null,
  now = Date.now()
): IRow[] {
  return trials.map(trial => {
    const cells: { [key: string]: ICell } = {};
    for (const column of columns) {
      cells[column.key] = cellOf(column, trial, now);
    }
    return { trial, best: trial.id === bestId, cells };
  });
}

/** Rows of the chosen status whose cells contain the text (any cell, any case). */
export function filterRows(
  rows: ReadonlyArray<IRow>,
  filter: IFilterState
): IRow[] {
  const needle = filter.text.trim().toLowerCase();
  return rows.filter(
    row =>
      (filter.status === 'all' || row.trial.status === filter.status) &&
      (!needle ||
        Object.values(row.cells).some(cell =>
          cell.text.toLowerCase().includes(needle)
        ))
  );
}

/** Rows sorted by one column; empty values (and NaN) last in both directions. */
export function sortRows(
  rows: ReadonlyArray<IRow>,
  sort: ISortState | null
): IRow[] {
  if (!sort) {
    return rows.slice();
  }
  const sign = sort.descending ? -1 : 1;
  return rows.slice().sort((a, b) => {
    const x = a.cells[sort.key]?.sort ?? null;
    const y = b.cells[sort.key]?.sort ?? null;
    if (x === null || y === null) {
      return x === y ? a.trial.index - b.trial.index : x === null ? 1 : -1;
    }
    const order =
      typeof x === 'number' && typeof y === 'number'
        ? x - y
        : String(x).localeCompare(String(y), undefined, { numeric: true });
    return sign * order || a.trial.index - b.trial.index;
  });
}

/** The next sort after a click on a column's header: ascending, descending, then off. */
export function nextSort(
  current: ISortState | null,
  key: string
): ISortState | null {
  if (!current || current.key !== key) {
    return { key, descending: false };
  }
  return current.descending ? null : { key, descending: true };
}
