import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISignal } from '@lumino/signaling';
import React, { useEffect, useMemo, useReducer, useState } from 'react';

import { useNow } from '../components/useModel';
import { formatMetric } from '../format';
import { parallelData, parallelSpec } from './parallel';
import {
  curveRows,
  curvesSpec,
  importanceRows,
  importanceSpec,
  metricNames
} from './specs';
import { CompareStore } from './store';
import { useChartTheme } from './theme';
import { bestTrial, finiteValue, searchSettings } from './trials';
import { TrialTable } from './TrialTable';
import { canRenderVega, VegaChart } from './VegaChart';

/** Least time between two redraws of the view while events stream in. */
const VIEW_THROTTLE_MS = 250;

/** Props of the compare view of one job. */
export interface ICompareViewProps {
  store: CompareStore;
  rendermime: IRenderMimeRegistry | null;
  /** Emitted when the tab was shown or resized (the charts are drawn to its width). */
  layoutChanged: ISignal<any, void>;
}

/** Re-render on the store's changes, at most once per `VIEW_THROTTLE_MS`. */
function useStore(store: CompareStore): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const onChange = () => {
      if (timer === null) {
        timer = setTimeout(() => {
          timer = null;
          bump();
        }, VIEW_THROTTLE_MS);
      }
    };
    store.changed.connect(onChange);
    return () => {
      store.changed.disconnect(onChange);
      if (timer !== null) {
        clearTimeout(timer);
      }
    };
  }, [store]);
}

/** A counter bumped by a signal. */
function useCounter(signal: ISignal<any, void>): number {
  const [count, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const onSignal = () => bump();
    signal.connect(onSignal);
    return () => {
      signal.disconnect(onSignal);
    };
  }, [signal]);
  return count;
}

/**
 * A job's trials side by side, like optuna-dashboard or a W&B sweep page: the search and its
 * best trial so far, all trials' curves of one metric overlaid, a parallel-coordinates plot
 * of the hyperparameters against a metric, the parameter importances, and the trials table.
 */
export function CompareView(props: ICompareViewProps): JSX.Element {
  const { store, rendermime } = props;
  useStore(store);
  const now = useNow(5000);
  const theme = useChartTheme();
  const layoutVersion = useCounter(props.layoutChanged);
  const [curveMetric, setCurveMetric] = useState<string | null>(null);
  const [axisMetric, setAxisMetric] = useState<string | null>(null);

  const job = store.job;
  const trials = store.trials;
  const settings = searchSettings(store.search, job?.conf);
  const best = bestTrial(trials, settings, store.search);
  const bestId = best?.trial_id ?? null;
  const version = store.pointsVersion;
  const names = useMemo(() => metricNames(store.points), [store, version]);
  const shownCurve =
    curveMetric ??
    (names.includes(settings.metric) ? settings.metric : names[0]);
  const curves = useMemo(
    () => (shownCurve ? curveRows(store.points, shownCurve, bestId) : []),
    [store, version, shownCurve, bestId]
  );
  const finals = Array.from(
    new Set(
      trials.flatMap(t =>
        Object.keys(t.metrics ?? {}).filter(
          k => finiteValue(t.metrics[k]) !== null
        )
      )
    )
  ).sort();
  const shownAxis = axisMetric ?? settings.metric;
  const parallel = parallelData(trials, shownAxis, bestId);
  const importance = importanceRows(store.search?.importance);
  const charts = canRenderVega(rendermime);

  return (
    <div
      className="jp-mlops-compare"
      data-testid="mlops-compare"
      data-job-id={store.jobId}
    >
      <header className="jp-mlops-compare-header">
        <span className="jp-mlops-compare-title">Job #{store.jobId}</span>
        {job && (
          <span className={`jp-mlops-badge jp-mlops-status-${job.status}`}>
            {job.status}
          </span>
        )}
        <span className="jp-mlops-meta" data-testid="mlops-compare-search">
          {settings.method} search · {settings.direction} {settings.metric}
          {settings.budget ? ` · budget ${settings.budget}` : ''}
          {settings.pruner && settings.pruner.type !== 'none'
            ? ` · ${settings.pruner.type} pruner`
            : ''}
          {job ? ` · ${job.trials_done} of ${job.trial_count} trials done` : ''}
        </span>
        <span className="jp-mlops-spacer" />
        {best ? (
          <span
            className="jp-mlops-badge jp-mlops-compare-best-badge"
            data-testid="mlops-compare-best"
            data-trial-id={best.trial_id}
          >
            best: trial {best.trial_id} · {settings.metric}{' '}
            {formatMetric(settings.metric, best.value)}
          </span>
        ) : (
          <span className="jp-mlops-muted">no finished trial yet</span>
        )}
        {store.connection !== 'open' && (
          <span
            className="jp-mlops-muted"
            title="The view updates live once reconnected"
          >
            hub: {store.connection}
          </span>
        )}
      </header>
      {store.error && (
        <div className="jp-mlops-banner jp-mlops-banner-error">
          {store.error}
        </div>
      )}
      {!charts && (
        <div
          className="jp-mlops-compare-note"
          data-testid="mlops-compare-no-charts"
        >
          Charts need JupyterLab&apos;s Vega-Lite renderer
          (@jupyterlab/vega5-extension), which is not available here; the table
          below still lists every trial.
        </div>
      )}
      {charts && rendermime && (
        <div className="jp-mlops-compare-charts">
          <section className="jp-mlops-compare-card jp-mlops-compare-wide">
            <div className="jp-mlops-compare-card-title">
              Curves of
              <MetricSelect
                names={names}
                value={shownCurve}
                onChange={setCurveMetric}
                testId="mlops-compare-curve-metric"
              />
            </div>
            {curves.length ? (
              <VegaChart
                rendermime={rendermime}
                spec={curvesSpec(curves, shownCurve!, theme)}
                testId="mlops-compare-curves"
                layoutVersion={layoutVersion}
              />
            ) : (
              <div className="jp-mlops-muted">No metric reported yet.</div>
            )}
          </section>
          <section className="jp-mlops-compare-card jp-mlops-compare-wide">
            <div className="jp-mlops-compare-card-title">
              Hyperparameters against
              <MetricSelect
                names={
                  finals.includes(shownAxis) ? finals : [shownAxis, ...finals]
                }
                value={shownAxis}
                onChange={setAxisMetric}
                testId="mlops-compare-axis-metric"
              />
            </div>
            {parallel.rows.length ? (
              <VegaChart
                rendermime={rendermime}
                spec={parallelSpec(
                  parallel,
                  shownAxis,
                  shownAxis === settings.metric
                    ? settings.direction
                    : 'maximize',
                  theme
                )}
                testId="mlops-compare-parallel"
                layoutVersion={layoutVersion}
              />
            ) : (
              <div className="jp-mlops-muted">
                No finished trial with {shownAxis} yet.
              </div>
            )}
          </section>
          {importance.length > 0 && (
            <section className="jp-mlops-compare-card">
              <div className="jp-mlops-compare-card-title">
                Parameter importance
              </div>
              <VegaChart
                rendermime={rendermime}
                spec={importanceSpec(importance, theme)}
                testId="mlops-compare-importance"
                layoutVersion={layoutVersion}
              />
            </section>
          )}
        </div>
      )}
      <TrialTable
        trials={trials}
        objective={settings.metric}
        bestId={bestId}
        now={now}
      />
    </div>
  );
}

/** A select of metric names. */
function MetricSelect(props: {
  names: string[];
  value: string | undefined;
  onChange: (name: string) => void;
  testId: string;
}): JSX.Element {
  return (
    <select
      className="jp-mlops-compare-metric"
      data-testid={props.testId}
      value={props.value ?? ''}
      onChange={event => props.onChange(event.target.value)}
    >
      {props.names.map(name => (
        <option key={name} value={name}>
          {name}
        </option>
      ))}
    </select>
  );
}
