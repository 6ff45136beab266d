import React, { useMemo } from 'react';

import { anyTrialNode, trialNodeText } from '../cluster';
import { canCompare, openCompare } from '../compare/open';
import {
  formatMetric,
  formatValue,
  jobWorkersText,
  numericMetrics,
  timeAgo,
  trialLeaseText
} from '../format';
import { trans } from '../i18n';
import { MLOpsModel } from '../model';
import { notifyError } from '../notify';
import { groupMetrics, type Series } from '../state/curves';
import {
  FINAL_JOB_STATES,
  IJob,
  ITrial,
  JobStatus,
  TrialStatus
} from '../types';
import { LineChart } from './LineChart';
import { LogView } from './LogView';

/** Props of the jobs view. */
export interface IJobsViewProps {
  model: MLOpsModel;
}

/** Jobs, newest first; the selected one shows its trials, curves and live log. */
export function JobsView(props: IJobsViewProps): JSX.Element {
  const { model } = props;
  const jobs = model.jobs;
  if (!jobs.length) {
    return (
      <div className="jp-mlops-empty" data-testid="mlops-jobs-empty">
        {trans.__('No jobs yet. Drop a grid above and launch it.')}
      </div>
    );
  }
  const selected =
    model.selectedJobId !== null ? model.job(model.selectedJobId) : undefined;
  return (
    <div className="jp-mlops-jobs">
      <ul className="jp-mlops-list jp-mlops-job-list">
        {jobs.map(job => (
          <JobItem
            key={job.id}
            job={job}
            selected={job.id === model.selectedJobId}
            onSelect={() => model.selectJob(job.id)}
            onCancel={() =>
              model
                .cancel(job.id)
                .catch(error =>
                  notifyError(
                    trans.__('Cancel of job #%1 failed', job.id),
                    error
                  )
                )
            }
            onRetry={() =>
              model
                .retry(job.id)
                .catch(error =>
                  notifyError(
                    trans.__('Retry of job #%1 failed', job.id),
                    error
                  )
                )
            }
          />
        ))}
      </ul>
      {selected && <JobDetail model={model} job={selected} />}
    </div>
  );
}

/** A job's or trial's status, as shown on its badge. */
function statusText(status: JobStatus | TrialStatus): string {
  switch (status) {
    case 'queued':
      return trans.__('queued');
    case 'pending':
      return trans.__('pending');
    case 'running':
      return trans.__('running');
    case 'finished':
      return trans.__('finished');
    case 'failed':
      return trans.__('failed');
    case 'cancelled':
      return trans.__('cancelled');
    case 'pruned':
      return trans.__('pruned');
  }
}

/** The running trial of a job, if any. */
function runningTrial(job: IJob): ITrial | undefined {
  return job.trials?.find(t => t.status === 'running');
}

/** "trial 2 of 4 · epoch 1/3 · batch 120/500" */
export function progressText(job: IJob): string {
  const trial = runningTrial(job);
  if (job.status === 'queued') {
    return trans._n('queued · %1 trial', 'queued · %1 trials', job.trial_count);
  }
  if (!trial) {
    return trans._n(
      '%2 of %1 trial done',
      '%2 of %1 trials done',
      job.trial_count,
      job.trials_done
    );
  }
  const parts = [trans.__('trial %1 of %2', trial.index + 1, job.trial_count)];
  if (trial.epochs) {
    parts.push(trans.__('epoch %1/%2', trial.epoch ?? 0, trial.epochs));
  }
  if (trial.batches) {
    parts.push(trans.__('batch %1/%2', trial.batch ?? 0, trial.batches));
  }
  return parts.join(' · ');
}

function JobItem(props: {
  job: IJob;
  selected: boolean;
  onSelect: () => void;
  onCancel: () => void;
  onRetry: () => void;
}): JSX.Element {
  const { job, selected } = props;
  const active = !FINAL_JOB_STATES.includes(job.status);
  const percent = Math.round(Math.max(0, Math.min(1, job.progress || 0)) * 100);
  return (
    <li
      className={`jp-mlops-job jp-mlops-card ${selected ? 'jp-mlops-job-selected' : ''}`}
      data-testid="mlops-job"
      data-job-id={job.id}
      data-status={job.status}
      onClick={props.onSelect}
    >
      <div className="jp-mlops-row">
        <span className="jp-mlops-job-title">
          {trans.__('Job #%1', job.id)}
        </span>
        <span className={`jp-mlops-badge jp-mlops-status-${job.status}`}>
          {statusText(job.status)}
        </span>
        <span className="jp-mlops-spacer" />
        {canCompare() && (
          <button
            className="jp-mlops-compare-open jp-mlops-button"
            data-testid="mlops-compare-open"
            title={trans.__('Compare the trials of this job in a tab')}
            onClick={event => {
              event.stopPropagation();
              openCompare(job.id);
            }}
          >
            {trans.__('Compare')}
          </button>
        )}
        {active && (
          <button
            className="jp-mlops-cancel jp-mlops-button"
            data-testid="mlops-cancel"
            onClick={event => {
              event.stopPropagation();
              props.onCancel();
            }}
          >
            {trans.__('Cancel')}
          </button>
        )}
        {job.retryable && (
          <button
            className="jp-mlops-retry jp-mlops-button"
            data-testid="mlops-retry"
            title={trans.__('Put the failed trials back in the queue')}
            onClick={event => {
              event.stopPropagation();
              props.onRetry();
            }}
          >
            {trans.__('Retry failed')}
          </button>
        )}
      </div>
      <div
        className="jp-mlops-meta jp-mlops-job-workers"
        data-testid="mlops-job-workers"
      >
        {trans.__('on %1', jobWorkersText(job))} · {timeAgo(job.created)}
      </div>
      <div
        className="jp-mlops-progress"
        data-testid="mlops-progress"
        title={`${percent}%`}
      >
        <div
          className={`jp-mlops-progress-bar jp-mlops-progress-${job.status}`}
          style={{ width: `${percent}%` }}
        />
      </div>
      <div className="jp-mlops-meta jp-mlops-progress-text">
        {progressText(job)}
      </div>
      {job.error && <div className="jp-mlops-error">{job.error}</div>}
    </li>
  );
}

/** Trials, curves and log of the selected job. */
function JobDetail(props: { model: MLOpsModel; job: IJob }): JSX.Element {
  const { model, job } = props;
  const version = model.streamVersion(job.id);
  const metrics = model.metrics(job.id);
  const byTrial = useMemo(() => groupMetrics(metrics), [metrics, version]);
  // a grid's axes, a search's choices and its ranges ({low, high} objects)
  const varying = Object.keys(job.conf ?? {}).filter(key => {
    const value = job.conf[key];
    return Array.isArray(value)
      ? value.length > 1
      : value !== null && typeof value === 'object';
  });
  const trials = job.trials ?? [];
  const showNodes = anyTrialNode(trials);
  return (
    <div
      className="jp-mlops-job-detail"
      data-testid="mlops-job-detail"
      data-job-id={job.id}
    >
      <div className="jp-mlops-subtitle">
        {trans.__('Job #%1: trials', job.id)}
      </div>
      {trials.length === 0 && (
        <div className="jp-mlops-muted">
          {trans.__('No trials started yet.')}
        </div>
      )}
      {trials.map(trial => (
        <TrialItem
          key={trial.id}
          trial={trial}
          varying={varying}
          series={byTrial.get(trial.id)}
          showNode={showNodes}
        />
      ))}
      <div className="jp-mlops-subtitle">{trans.__('Log')}</div>
      <LogView lines={model.logs(job.id)} version={version} />
    </div>
  );
}

/**
 * The one metric the worker reports per training step (every few batches); every other
 * metric (test_loss, train_accuracy, ...) comes once per epoch with the epoch as its step.
 */
const BATCH_METRIC = 'loss';

/** Loss curves first, then accuracy, then the rest by name. */
function metricOrder(name: string): number {
  if (/loss/i.test(name)) {
    return 0;
  }
  return /acc/i.test(name) ? 1 : 2;
}

function TrialItem(props: {
  trial: ITrial;
  varying: string[];
  series: Series | undefined;
  /** Show the cluster node it runs on (some trial of the job has one). */
  showNode?: boolean;
}): JSX.Element {
  const { trial, varying, series, showNode } = props;
  const node = trialNodeText(trial);
  const lease = trialLeaseText(trial);
  const keys = varying.length ? varying : Object.keys(trial.params ?? {});
  const names = series
    ? Array.from(series.keys()).sort(
        (a, b) => metricOrder(a) - metricOrder(b) || a.localeCompare(b)
      )
    : [];
  return (
    <div
      className="jp-mlops-trial"
      data-testid="mlops-trial"
      data-trial-id={trial.id}
      data-status={trial.status}
      data-worker={trial.worker_name ?? ''}
      data-attempt={trial.attempt ?? 0}
    >
      <div className="jp-mlops-row">
        <span className="jp-mlops-trial-title">
          {trans.__('trial %1', trial.id)}
        </span>
        <span className={`jp-mlops-badge jp-mlops-status-${trial.status}`}>
          {statusText(trial.status)}
        </span>
        {trial.status === 'running' && trial.epochs ? (
          <span className="jp-mlops-meta">
            {trans.__('epoch %1/%2', trial.epoch ?? 0, trial.epochs)}
            {trial.batches
              ? ` · ${trans.__('batch %1/%2', trial.batch ?? 0, trial.batches)}`
              : ''}
          </span>
        ) : null}
        {trial.checkpoint_epoch !== null &&
          trial.checkpoint_epoch !== undefined && (
            <span
              className="jp-mlops-badge jp-mlops-checkpoint"
              data-testid="mlops-checkpoint"
              data-epoch={trial.checkpoint_epoch}
            >
              {trans.__('checkpoint: epoch %1', trial.checkpoint_epoch)}
            </span>
          )}
      </div>
      {lease && (
        <div
          className="jp-mlops-meta jp-mlops-trial-worker"
          data-testid="mlops-trial-worker"
        >
          {lease}
        </div>
      )}
      {showNode && (
        <div
          className="jp-mlops-meta jp-mlops-trial-node"
          data-testid="mlops-trial-node"
          data-node={trial.node ?? ''}
        >
          {node || trans.__('node: none')}
        </div>
      )}
      <div className="jp-mlops-chips">
        {keys.map(key => (
          <span className="jp-mlops-chip" key={key}>
            {key}={formatValue(trial.params?.[key])}
          </span>
        ))}
        {numericMetrics(trial.metrics).map(([name, value]) => (
          <span
            className="jp-mlops-chip jp-mlops-chip-metric"
            key={`m-${name}`}
          >
            {name} {formatMetric(name, value)}
          </span>
        ))}
      </div>
      {trial.error &&
        (trial.status === 'pending' ? (
          <div
            className="jp-mlops-requeued"
            data-testid="mlops-requeued"
            title={trans.__('Why the trial went back to the queue')}
          >
            {trial.error}
          </div>
        ) : (
          <div className="jp-mlops-error">{trial.error}</div>
        ))}
      {names.length > 0 && (
        <div className="jp-mlops-charts">
          {names.map(name => (
            <LineChart
              key={name}
              name={name}
              points={series!.get(name)!}
              xLabel={
                name === BATCH_METRIC ? trans.__('step') : trans.__('epoch')
              }
            />
          ))}
        </div>
      )}
    </div>
  );
}
