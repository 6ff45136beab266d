import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import React, { useState } from 'react';

import {
  dateTime,
  formatBytes,
  formatCount,
  formatMetric,
  formatValue,
  numericMetrics,
  shortHash,
  shortTime,
  timeAgo
} from '../format';
import { MLOpsModel } from '../model';
import { IDeployment, IModel } from '../types';

/** Props of the models view. */
export interface IModelsViewProps {
  model: MLOpsModel;
  /** URL to download a model file. */
  fileUrl: (modelId: string) => string;
}

/** Stored models grouped by job, the deployed one marked, deploy buttons, history, reset. */
export function ModelsView(props: IModelsViewProps): JSX.Element {
  const { model } = props;
  const [busy, setBusy] = useState<string | null>(null);
  const groups = model.modelGroups;

  const deploy = async (modelId: string) => {
    setBusy(modelId);
    try {
      await model.deploy(modelId);
    } catch (error) {
      await showErrorMessage('Deploy failed', (error as Error).message);
    } finally {
      setBusy(null);
    }
  };

  const clear = async () => {
    const result = await showDialog({
      title: 'Clear the model store?',
      body:
        'This deletes every stored model file and the whole deployment history. ' +
        'Workers and jobs are kept. This cannot be undone.',
      buttons: [
        Dialog.cancelButton(),
        Dialog.warnButton({ label: 'Clear store' })
      ]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      await model.clearStore();
    } catch (error) {
      await showErrorMessage(
        'Clearing the store failed',
        (error as Error).message
      );
    }
  };

  return (
    <div className="jp-mlops-models">
      <DeployedSummary deployment={model.deployment} />
      {groups.length === 0 && (
        <div className="jp-mlops-empty" data-testid="mlops-models-empty">
          No models stored yet. Each finished trial uploads one.
        </div>
      )}
      {groups.map(group => (
        <div
          className="jp-mlops-model-group"
          data-testid="mlops-model-group"
          data-job-id={group.job_id}
          key={group.job_id}
        >
          <div className="jp-mlops-subtitle">Job #{group.job_id}</div>
          {group.models.map(m => (
            <ModelItem
              key={m.id}
              model={m}
              varying={varyingKeys(group.models)}
              busy={busy === m.id}
              fileUrl={props.fileUrl(m.id)}
              onDeploy={() => void deploy(m.id)}
            />
          ))}
        </div>
      ))}
      <HistoryView history={model.history} />
      <div className="jp-mlops-row jp-mlops-danger-row">
        <span className="jp-mlops-spacer" />
        <button
          className="jp-mlops-clear-store jp-mlops-button jp-mod-warn"
          data-testid="mlops-clear-store"
          disabled={groups.length === 0 && model.history.length === 0}
          onClick={() => void clear()}
        >
          Clear store…
        </button>
      </div>
    </div>
  );
}

/** What is deployed now. */
function DeployedSummary(props: {
  deployment: IDeployment | null;
}): JSX.Element {
  const d = props.deployment;
  if (!d) {
    return (
      <div
        className="jp-mlops-deployed-summary jp-mlops-muted"
        data-testid="mlops-deployed"
      >
        Nothing deployed yet.
      </div>
    );
  }
  return (
    <div
      className="jp-mlops-deployed-summary"
      data-testid="mlops-deployed"
      data-model-id={d.model_id}
      data-sha1={d.sha1}
    >
      <span className="jp-mlops-deployed-label">Deployed</span> model{' '}
      <b>{d.model_id}</b> · sha1 <code title={d.sha1}>{shortHash(d.sha1)}</code>{' '}
      · {d.reason} · {timeAgo(d.time)}
      {d.metric && d.metric_value !== null && (
        <>
          {' '}
          · {d.metric} {formatMetric(d.metric, d.metric_value)}
        </>
      )}
    </div>
  );
}

/** Hyperparameters whose values differ between the models of a group. */
export function varyingKeys(models: IModel[]): string[] {
  const keys = new Set<string>();
  for (const m of models) {
    Object.keys(m.hyperparameters ?? {}).forEach(key => keys.add(key));
  }
  return Array.from(keys).filter(
    key =>
      new Set(models.map(m => JSON.stringify(m.hyperparameters?.[key]))).size >
      1
  );
}

function ModelItem(props: {
  model: IModel;
  varying: string[];
  busy: boolean;
  fileUrl: string;
  onDeploy: () => void;
}): JSX.Element {
  const { model: m, varying } = props;
  const metrics = numericMetrics(m.metrics);
  const hyperparameters = Object.entries(m.hyperparameters ?? {});
  return (
    <div
      className={`jp-mlops-model jp-mlops-card ${m.deployed ? 'jp-mlops-model-deployed' : ''}`}
      data-testid="mlops-model"
      data-model-id={m.id}
      data-sha1={m.sha1}
      data-deployed={String(m.deployed)}
    >
      <div className="jp-mlops-row jp-mlops-nowrap">
        <span className="jp-mlops-model-title">model {m.id}</span>
        <span className="jp-mlops-spacer" />
        {m.damaged ? (
          <span
            className="jp-mlops-badge jp-mlops-damaged-badge"
            data-testid="mlops-damaged-badge"
            title={`${m.damaged}: never served or deployed (python -m jupyter_mlops.check)`}
          >
            damaged
          </span>
        ) : null}
        {m.deployed ? (
          <span
            className="jp-mlops-badge jp-mlops-deployed-badge"
            data-testid="mlops-deployed-badge"
          >
            ✓ deployed
          </span>
        ) : m.damaged ? null : (
          <button
            className="jp-mlops-deploy-button jp-mlops-button"
            data-testid="mlops-deploy-button"
            disabled={props.busy}
            onClick={props.onDeploy}
            title="Deploy this model (a rollback when it is older)"
          >
            {props.busy ? 'Deploying…' : 'Deploy'}
          </button>
        )}
      </div>
      <div className="jp-mlops-chips">
        {metrics.map(([name, value]) => (
          <span className="jp-mlops-chip jp-mlops-chip-metric" key={name}>
            {name} {formatMetric(name, value)}
          </span>
        ))}
        {varying.map(key => (
          <span className="jp-mlops-chip" key={key}>
            {key}={formatValue(m.hyperparameters?.[key])}
          </span>
        ))}
      </div>
      <div className="jp-mlops-meta">
        <span className="jp-mlops-nowrap">
          {formatCount(m.param_count)} params
        </span>{' '}
        · <span className="jp-mlops-nowrap">{formatBytes(m.size)}</span> ·{' '}
        <span className="jp-mlops-nowrap">
          sha1{' '}
          <code className="jp-mlops-sha1" title={m.sha1}>
            {shortHash(m.sha1)}
          </code>
        </span>{' '}
        ·{' '}
        <a href={props.fileUrl} download={`model-${m.id}.zip`}>
          download
        </a>
      </div>
      {hyperparameters.length > 0 && (
        <details className="jp-mlops-defaults">
          <summary>hyperparameters ({hyperparameters.length})</summary>
          <div className="jp-mlops-chips">
            {hyperparameters.map(([key, value]) => (
              <span className="jp-mlops-chip" key={key}>
                {key}={formatValue(value)}
              </span>
            ))}
          </div>
        </details>
      )}
    </div>
  );
}

/** Deployment history, newest first. */
function HistoryView(props: { history: IDeployment[] }): JSX.Element {
  return (
    <div className="jp-mlops-history" data-testid="mlops-history">
      <div className="jp-mlops-subtitle">Deployment history</div>
      {props.history.length === 0 ? (
        <div className="jp-mlops-muted">No deployments yet.</div>
      ) : (
        <ul className="jp-mlops-list">
          {props.history.map((d, index) => (
            <li
              key={d.id}
              className={`jp-mlops-history-row ${index === 0 ? 'jp-mlops-history-current' : ''}`}
              data-testid="mlops-history-row"
              data-model-id={d.model_id}
              data-sha1={d.sha1}
              data-reason={d.reason}
            >
              <span className="jp-mlops-history-model">{d.model_id}</span>
              <code title={d.sha1}>{shortHash(d.sha1, 8)}</code>
              <span className={`jp-mlops-badge jp-mlops-reason-${d.reason}`}>
                {d.reason}
              </span>
              <span className="jp-mlops-spacer" />
              <span className="jp-mlops-history-time" title={dateTime(d.time)}>
                {shortTime(d.time)}
              </span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
