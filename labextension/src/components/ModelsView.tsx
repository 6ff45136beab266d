import { Dialog, showDialog } from '@jupyterlab/apputils';
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
import { trans } from '../i18n';
import { MLOpsModel } from '../model';
import { notifyError } from '../notify';
import {
  decisionFacts,
  decisionState,
  decisionTitle
} from '../state/decisions';
import { IDecision, IDeployment, IModel } from '../types';

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
      notifyError(trans.__('Deploy of model %1 failed', modelId), error);
    } finally {
      setBusy(null);
    }
  };

  const clear = async () => {
    // a question to the user: a dialog
    const result = await showDialog({
      title: trans.__('Clear the model store?'),
      body: trans.__(
        'This deletes every stored model file and the whole deployment history. ' +
          'Workers and jobs are kept. This cannot be undone.'
      ),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.warnButton({ label: trans.__('Clear store') })
      ]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      await model.clearStore();
    } catch (error) {
      notifyError(trans.__('Clearing the store failed'), error);
    }
  };

  return (
    <div className="jp-mlops-models">
      <DeployedSummary deployment={model.deployment} />
      {groups.length === 0 && (
        <div className="jp-mlops-empty" data-testid="mlops-models-empty">
          {trans.__('No models stored yet. Each finished trial uploads one.')}
        </div>
      )}
      {groups.map(group => (
        <div
          className="jp-mlops-model-group"
          data-testid="mlops-model-group"
          data-job-id={group.job_id}
          key={group.job_id}
        >
          <div className="jp-mlops-subtitle">
            {trans.__('Job #%1', group.job_id)}
          </div>
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
          {trans.__('Clear store…')}
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
        {trans.__('Nothing deployed yet.')}
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
      <span className="jp-mlops-deployed-label">{trans.__('Deployed')}</span>{' '}
      {trans.__('model')} <b>{d.model_id}</b> · sha1{' '}
      <code title={d.sha1}>{shortHash(d.sha1)}</code> ·{' '}
      {d.reason === 'auto' ? trans.__('auto') : trans.__('manual')} ·{' '}
      {timeAgo(d.time)}
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
        <span className="jp-mlops-model-title">
          {trans.__('model %1', m.id)}
        </span>
        <span className="jp-mlops-spacer" />
        {m.damaged ? (
          <span
            className="jp-mlops-badge jp-mlops-damaged-badge"
            data-testid="mlops-damaged-badge"
            title={trans.__(
              '%1: never served or deployed (python -m jupyter_mlops.check)',
              m.damaged
            )}
          >
            {trans.__('damaged')}
          </span>
        ) : null}
        {m.deployed ? (
          <span
            className="jp-mlops-badge jp-mlops-deployed-badge"
            data-testid="mlops-deployed-badge"
          >
            {trans.__('✓ deployed')}
          </span>
        ) : m.damaged ? null : (
          <button
            className="jp-mlops-deploy-button jp-mlops-button"
            data-testid="mlops-deploy-button"
            disabled={props.busy}
            onClick={props.onDeploy}
            title={trans.__('Deploy this model (a rollback when it is older)')}
          >
            {props.busy ? trans.__('Deploying…') : trans.__('Deploy')}
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
          {trans.__('%1 params', formatCount(m.param_count))}
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
          {trans.__('download')}
        </a>
      </div>
      {m.decision && <DecisionView decision={m.decision} />}
      {hyperparameters.length > 0 && (
        <details className="jp-mlops-defaults">
          <summary>
            {trans.__('hyperparameters (%1)', hyperparameters.length)}
          </summary>
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
      <div className="jp-mlops-subtitle">{trans.__('Deployment history')}</div>
      {props.history.length === 0 ? (
        <div className="jp-mlops-muted">{trans.__('No deployments yet.')}</div>
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
              <div className="jp-mlops-history-head">
                <span className="jp-mlops-history-model">{d.model_id}</span>
                <code title={d.sha1}>{shortHash(d.sha1, 8)}</code>
                <span className={`jp-mlops-badge jp-mlops-reason-${d.reason}`}>
                  {d.reason === 'auto' ? trans.__('auto') : trans.__('manual')}
                </span>
                <span className="jp-mlops-spacer" />
                <span
                  className="jp-mlops-history-time"
                  title={dateTime(d.time)}
                >
                  {shortTime(d.time)}
                </span>
              </div>
              {d.decision && <DecisionView decision={d.decision} />}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/**
 * A deploy decision: "gate bypassed" for a deploy by hand past a refusing gate, the hub's
 * sentence, then p, b/c and n when a paired test was made. Text only (React escapes it).
 */
export function DecisionView(props: { decision: IDecision }): JSX.Element {
  const { decision } = props;
  const state = decisionState(decision);
  const facts = decisionFacts(decision, trans);
  return (
    <div
      className={`jp-mlops-decision jp-mlops-decision-${state}`}
      data-testid="mlops-decision"
      data-state={state}
      data-kind={decision.kind}
      data-bypassed={String(decision.bypassed)}
      title={decisionTitle(decision, trans)}
    >
      {state === 'bypassed' && (
        <span
          className="jp-mlops-badge jp-mlops-bypassed-badge"
          data-testid="mlops-gate-bypassed"
        >
          {trans.__('gate bypassed')}
        </span>
      )}{' '}
      <span className="jp-mlops-decision-reason">{decision.reason}</span>
      {facts.length > 0 && (
        <span className="jp-mlops-decision-facts">
          {facts.map(fact => (
            <span
              className="jp-mlops-chip jp-mlops-decision-fact"
              data-testid="mlops-decision-fact"
              key={fact}
            >
              {fact}
            </span>
          ))}
        </span>
      )}
    </div>
  );
}
