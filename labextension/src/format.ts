/** Small formatting helpers shared by the views. */

import { trans } from './i18n';
import type { IJob, ITrial } from './types';

/**
 * Where a job runs: the workers of its trials' leases ("w1, w2", from the server's
 * `workers`), with " (any)" when any worker was requested; the requested worker ("any" or a
 * name) while no trial was leased yet.
 */
export function jobWorkersText(job: IJob): string {
  const names = job.workers ?? [];
  if (!names.length) {
    return job.worker && job.worker !== 'any' ? job.worker : trans.__('any');
  }
  return job.worker === 'any'
    ? trans.__('%1 (any)', names.join(', '))
    : names.join(', ');
}

/** "on w1 · attempt 2 · resumed from epoch 3", or "" for a trial never leased. */
export function trialLeaseText(trial: ITrial): string {
  const parts: string[] = [];
  if (trial.worker_name) {
    parts.push(trans.__('on %1', trial.worker_name));
  }
  if ((trial.attempt ?? 0) > 1) {
    parts.push(trans.__('attempt %1', trial.attempt));
  }
  if (
    trial.resumed_from_epoch !== null &&
    trial.resumed_from_epoch !== undefined
  ) {
    parts.push(trans.__('resumed from epoch %1', trial.resumed_from_epoch));
  }
  return parts.join(' · ');
}

/** "12 s ago", "5 min ago", "3 h ago", or a date. */
export function timeAgo(
  iso: string | null | undefined,
  now = Date.now()
): string {
  if (!iso) {
    return trans.__('never');
  }
  const time = Date.parse(iso);
  if (isNaN(time)) {
    return iso;
  }
  const seconds = Math.max(0, Math.round((now - time) / 1000));
  if (seconds < 60) {
    return trans.__('%1 s ago', seconds);
  }
  if (seconds < 3600) {
    return trans.__('%1 min ago', Math.round(seconds / 60));
  }
  if (seconds < 86400) {
    return trans.__('%1 h ago', Math.round(seconds / 3600));
  }
  return new Date(time).toLocaleString();
}

/** Local time of day, e.g. "14:03:07". */
export function clock(iso: string | null | undefined): string {
  if (!iso) {
    return '';
  }
  const time = Date.parse(iso);
  return isNaN(time) ? iso : new Date(time).toLocaleTimeString();
}

/** Local date and time. */
export function dateTime(iso: string | null | undefined): string {
  if (!iso) {
    return '';
  }
  const time = Date.parse(iso);
  return isNaN(time) ? iso : new Date(time).toLocaleString();
}

/** Time of day for today's times, else a short date and time. */
export function shortTime(
  iso: string | null | undefined,
  now = Date.now()
): string {
  if (!iso) {
    return '';
  }
  const time = Date.parse(iso);
  if (isNaN(time)) {
    return iso;
  }
  const date = new Date(time);
  const sameDay = new Date(now).toDateString() === date.toDateString();
  return sameDay
    ? date.toLocaleTimeString()
    : date.toLocaleString(undefined, {
        month: 'short',
        day: 'numeric',
        hour: '2-digit',
        minute: '2-digit'
      });
}

/** The first characters of a hash. */
export function shortHash(
  hash: string | null | undefined,
  length = 10
): string {
  return hash ? hash.slice(0, length) : '';
}

/** "532 B", "12.3 KB", "4.1 MB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) {
    return '';
  }
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** "950", "12.3k", "1.25M". */
export function formatCount(count: number | null | undefined): string {
  if (count === null || count === undefined) {
    return '';
  }
  if (count >= 1e6) {
    return `${(count / 1e6).toPrecision(3)}M`;
  }
  if (count >= 1e3) {
    return `${(count / 1e3).toPrecision(3)}k`;
  }
  return String(count);
}

/** How the hub writes a non-finite number (a diverged loss) in JSON: as this text. */
export const NON_FINITE = ['NaN', 'Infinity', '-Infinity'];

/** A number, or the text the hub sends for NaN and ±Infinity. */
export function isMetricValue(value: unknown): value is number | string {
  return (
    typeof value === 'number' ||
    (typeof value === 'string' && NON_FINITE.includes(value))
  );
}

/** Metric names shown first, in this order, where metrics are listed. */
export const MAIN_METRICS = ['test_accuracy', 'test_loss'];

/**
 * The numeric metrics of a trial or model as [name, value] pairs, main ones first, then by
 * name. Structured values (e.g. the worker's `per_class_accuracy` object) are left out: they
 * do not fit a chip.
 */
export function numericMetrics(
  metrics: { [name: string]: unknown } | null | undefined
): [string, number | string][] {
  const rank = (name: string) => {
    const index = MAIN_METRICS.indexOf(name);
    return index < 0 ? MAIN_METRICS.length : index;
  };
  return Object.entries(metrics ?? {})
    .filter((entry): entry is [string, number | string] =>
      isMetricValue(entry[1])
    )
    .sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]));
}

/** A metric value: accuracies in [0, 1] as percents, other numbers to 4 digits. */
export function formatMetric(name: string, value: unknown): string {
  if (typeof value === 'string' && NON_FINITE.includes(value)) {
    return value; // "NaN": a diverged value, shown as such
  }
  if (typeof value !== 'number') {
    return value === null || value === undefined ? '' : JSON.stringify(value);
  }
  if (/acc/i.test(name) && value >= 0 && value <= 1) {
    return `${(value * 100).toFixed(1)}%`;
  }
  if (Number.isInteger(value)) {
    return String(value);
  }
  return Math.abs(value) >= 1000 || Math.abs(value) < 0.001
    ? value.toExponential(2)
    : value.toPrecision(4);
}

/** A hyperparameter value as short text. */
export function formatValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
