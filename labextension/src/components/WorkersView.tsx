import React, { useState } from 'react';

import { clusterText, clusterTooltip, hasClusterBadge } from '../cluster';
import { formatValue, timeAgo } from '../format';
import { trans } from '../i18n';
import { IWorker, WorkerStatus } from '../types';
import { useNow } from './useModel';

/** Props of the workers view. */
export interface IWorkersViewProps {
  workers: IWorker[];
  /** Forget an offline worker (it leaves the list); absent: no Forget buttons. */
  onForget?: (worker: IWorker) => Promise<void>;
}

/** Every worker notebook: online state, device, current job/trial and declared defaults. */
export function WorkersView(props: IWorkersViewProps): JSX.Element {
  const now = useNow();
  if (!props.workers.length) {
    return (
      <div className="jp-mlops-empty" data-testid="mlops-workers-empty">
        {withNode(
          trans.__(
            'No workers yet. Run %1 in a training notebook to add one.',
            '%1'
          ),
          <code>%load_ext jupyter_mlops</code>
        )}
      </div>
    );
  }
  return (
    <ul className="jp-mlops-list">
      {props.workers.map(worker => (
        <WorkerItem
          key={worker.id}
          worker={worker}
          now={now}
          onForget={props.onForget}
        />
      ))}
    </ul>
  );
}

/** A translated sentence with `node` where it says `%1`. */
export function withNode(text: string, node: JSX.Element): JSX.Element {
  const [before, ...after] = text.split('%1');
  return (
    <>
      {before}
      {after.length > 0 && node}
      {after.join('%1')}
    </>
  );
}

/** A worker's status, as shown on its badge. */
function statusText(status: WorkerStatus): string {
  switch (status) {
    case 'idle':
      return trans.__('idle');
    case 'busy':
      return trans.__('busy');
    case 'offline':
      return trans.__('offline');
  }
}

function WorkerItem(props: {
  worker: IWorker;
  now: number;
  onForget?: (worker: IWorker) => Promise<void>;
}): JSX.Element {
  const { worker, now, onForget } = props;
  const [failure, setFailure] = useState<string | null>(null);
  const forget = async (): Promise<void> => {
    try {
      await onForget?.(worker);
    } catch (error) {
      setFailure(error instanceof Error ? error.message : String(error));
    }
  };
  const defaults = Object.entries(worker.defaults ?? {});
  const state = worker.online ? worker.status : 'offline';
  return (
    <li
      className={`jp-mlops-worker jp-mlops-card ${
        worker.online ? 'jp-mlops-online' : 'jp-mlops-offline'
      }`}
      data-testid="mlops-worker"
      data-worker-name={worker.name}
      data-online={String(worker.online)}
    >
      <div className="jp-mlops-row">
        <span
          className={`jp-mlops-dot ${
            worker.online ? 'jp-mlops-dot-online' : 'jp-mlops-dot-offline'
          }`}
          title={worker.online ? trans.__('online') : trans.__('offline')}
        />
        <span className="jp-mlops-worker-name">{worker.name}</span>
        <span className={`jp-mlops-badge jp-mlops-worker-status-${state}`}>
          {worker.online ? statusText(worker.status) : trans.__('offline')}
        </span>
        {!worker.online && onForget && (
          <button
            className="jp-mlops-button jp-mlops-worker-forget"
            data-testid="mlops-forget-worker"
            title={trans.__('Remove this offline worker from the list')}
            onClick={() => void forget()}
          >
            {trans.__('Forget')}
          </button>
        )}
      </div>
      {failure && <div className="jp-mlops-meta jp-mlops-error">{failure}</div>}
      <div className="jp-mlops-meta">
        {worker.online ? (
          <span className="jp-mlops-worker-online">{trans.__('online')}</span>
        ) : (
          <span className="jp-mlops-worker-last-seen">
            {trans.__('last seen %1', timeAgo(worker.last_seen, now))}
          </span>
        )}
        {worker.device && (
          <span className="jp-mlops-worker-device"> · {worker.device}</span>
        )}
        {worker.notebook && (
          <span className="jp-mlops-worker-notebook" title={worker.notebook}>
            {' '}
            · {worker.notebook.split('/').pop()}
          </span>
        )}
      </div>
      {hasClusterBadge(worker) && (
        <div className="jp-mlops-meta jp-mlops-worker-cluster">
          <span
            className="jp-mlops-badge jp-mlops-cluster"
            data-testid="mlops-worker-cluster"
            data-capacity={worker.capacity ?? 1}
            title={clusterTooltip(worker.cluster) || undefined}
          >
            {clusterText(worker)}
          </span>
        </div>
      )}
      {(worker.current_job !== null || worker.current_trial) && (
        <div className="jp-mlops-meta jp-mlops-worker-current">
          {worker.current_trial
            ? trans.__(
                'running job #%1, trial %2',
                worker.current_job,
                worker.current_trial
              )
            : trans.__('running job #%1', worker.current_job)}
        </div>
      )}
      {defaults.length > 0 && (
        <details className="jp-mlops-defaults">
          <summary>{trans.__('defaults (%1)', defaults.length)}</summary>
          <div className="jp-mlops-chips">
            {defaults.map(([key, value]) => (
              <span className="jp-mlops-chip" key={key}>
                {key}={formatValue(value)}
              </span>
            ))}
          </div>
        </details>
      )}
    </li>
  );
}
