import React, { useEffect, useRef, useState } from 'react';

import { trans } from '../i18n';
import { MLOpsModel } from '../model';
import { MLOpsError, MLOpsService } from '../service';
import { IGridValidation, IProblem, JSONObject } from '../types';

/** Props of the grid launcher. */
export interface ILauncherViewProps {
  model: MLOpsModel;
  service: Pick<MLOpsService, 'validateGrid'>;
  /** Delay between the last keystroke and the server validation, in ms. */
  debounceMs?: number;
}

const PLACEHOLDER = `{
  "EPOCHS": 1,
  "LEARNING_RATE": [0.001, 0.002]
}`;

/** Parse the text as a JSON object, or say why it is not one. */
function parseConf(text: string): { conf?: JSONObject; error?: string } {
  if (!text.trim()) {
    return {};
  }
  try {
    const conf = JSON.parse(text);
    if (conf === null || typeof conf !== 'object' || Array.isArray(conf)) {
      return {
        error: trans.__('The conf must be a JSON object of hyperparameters.')
      };
    }
    return { conf };
  } catch (error) {
    return {
      error: trans.__('Not valid JSON: %1', (error as Error).message)
    };
  }
}

/**
 * The grid launcher: drop a JSON conf (or edit it), see the server's validation as you type,
 * pick a worker, launch.
 */
export function LauncherView(props: ILauncherViewProps): JSX.Element {
  const { model, service } = props;
  const debounceMs = props.debounceMs ?? 350;
  const [text, setText] = useState('');
  const [worker, setWorker] = useState('any');
  const [validation, setValidation] = useState<IGridValidation | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);
  const [dragging, setDragging] = useState(false);
  const [launching, setLaunching] = useState(false);
  const [launchErrors, setLaunchErrors] = useState<IProblem[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const requestId = useRef(0);
  const fileInput = useRef<HTMLInputElement>(null);

  // Validate on the server, debounced; answers to older requests are dropped.
  useEffect(() => {
    const id = ++requestId.current;
    const parsed = parseConf(text);
    setProblem(parsed.error ?? null);
    if (!parsed.conf) {
      setValidation(null);
      setChecking(false);
      return;
    }
    setChecking(true);
    const timer = setTimeout(() => {
      service
        .validateGrid(parsed.conf!, worker)
        .then(answer => {
          if (id === requestId.current) {
            setValidation(answer);
            setProblem(null);
          }
        })
        .catch(error => {
          if (id === requestId.current) {
            setValidation(null);
            setProblem(
              trans.__('Validation failed: %1', (error as Error).message)
            );
          }
        })
        .finally(() => {
          if (id === requestId.current) {
            setChecking(false);
          }
        });
    }, debounceMs);
    return () => clearTimeout(timer);
  }, [text, worker, service, debounceMs]);

  const loadFile = async (file: File | undefined | null) => {
    if (!file) {
      return;
    }
    setText(await file.text());
    setNotice(trans.__('Loaded %1', file.name));
    setLaunchErrors([]);
  };

  const onDrop = (event: React.DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    event.stopPropagation();
    setDragging(false);
    const file = event.dataTransfer.files?.[0];
    if (file) {
      void loadFile(file);
    } else {
      const dropped = event.dataTransfer.getData('text/plain');
      if (dropped) {
        setText(dropped);
      }
    }
  };

  const onLaunch = async () => {
    const parsed = parseConf(text);
    if (!parsed.conf) {
      return;
    }
    setLaunching(true);
    setLaunchErrors([]);
    setNotice(null);
    try {
      const job = await model.launch(parsed.conf, worker);
      setNotice(
        job.status === 'queued'
          ? worker === 'any'
            ? trans.__(
                'Job #%1 is queued: no worker is free; it starts when one is.',
                job.id
              )
            : trans.__(
                'Job #%1 is queued: %2 is busy or offline; it starts when one is.',
                job.id,
                worker
              )
          : trans.__('Job #%1 is %2.', job.id, job.status)
      );
    } catch (error) {
      const problems =
        error instanceof MLOpsError && error.problems.length
          ? error.problems
          : [{ key: null, message: (error as Error).message }];
      setLaunchErrors(problems);
    } finally {
      setLaunching(false);
    }
  };

  const valid = !!validation && validation.valid && !problem;
  const workers = model.workers;
  return (
    <div className="jp-mlops-launcher">
      <div
        className={`jp-mlops-dropzone ${dragging ? 'jp-mlops-dropzone-active' : ''}`}
        data-testid="mlops-dropzone"
        onDragEnter={event => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragOver={event => {
          event.preventDefault();
          event.stopPropagation();
          event.dataTransfer.dropEffect = 'copy';
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        onClick={() => fileInput.current?.click()}
        role="button"
        tabIndex={0}
        title={trans.__('Drop a JSON grid here, or click to choose a file')}
      >
        <div className="jp-mlops-dropzone-title">
          {trans.__('Drop a JSON grid here')}
        </div>
        <div className="jp-mlops-dropzone-hint">
          {trans.__('or click to choose a file')}
        </div>
        <input
          ref={fileInput}
          className="jp-mlops-file-input"
          data-testid="mlops-file-input"
          type="file"
          accept=".json,application/json"
          style={{ display: 'none' }}
          onClick={event => event.stopPropagation()}
          onChange={event => {
            void loadFile(event.target.files?.[0]);
            event.target.value = '';
          }}
        />
      </div>
      <textarea
        className="jp-mlops-conf"
        data-testid="mlops-conf"
        spellCheck={false}
        wrap="off"
        placeholder={PLACEHOLDER}
        value={text}
        rows={Math.min(14, Math.max(5, text.split('\n').length + 1))}
        onChange={event => {
          setText(event.target.value);
          setLaunchErrors([]);
          setNotice(null);
        }}
      />
      <ValidationView
        validation={validation}
        problem={problem}
        checking={checking}
      />
      <div className="jp-mlops-row jp-mlops-launch-row">
        <label className="jp-mlops-label">
          {trans.__('Worker')}{' '}
          <select
            className="jp-mlops-worker-select"
            data-testid="mlops-worker-select"
            value={worker}
            onChange={event => setWorker(event.target.value)}
          >
            <option value="any">{trans.__('any')}</option>
            {workers.map(w => (
              <option key={w.id} value={w.name}>
                {w.name} ({w.online ? w.status : trans.__('offline')})
              </option>
            ))}
          </select>
        </label>
        <button
          className="jp-mlops-launch jp-mlops-button jp-mod-accept"
          data-testid="mlops-launch"
          disabled={!valid || launching || checking}
          onClick={() => void onLaunch()}
        >
          {launching
            ? trans.__('Launching…')
            : valid
              ? trans._n(
                  'Launch %1 trial',
                  'Launch %1 trials',
                  validation!.trial_count
                )
              : trans.__('Launch')}
        </button>
      </div>
      {launchErrors.length > 0 && (
        <ProblemList problems={launchErrors} kind="error" />
      )}
      {notice && <div className="jp-mlops-notice">{notice}</div>}
    </div>
  );
}

/** Trial count, warnings and errors of the last validation. */
function ValidationView(props: {
  validation: IGridValidation | null;
  problem: string | null;
  checking: boolean;
}): JSX.Element | null {
  const { validation, problem, checking } = props;
  if (problem) {
    return (
      <div className="jp-mlops-validation">
        <div className="jp-mlops-error" data-testid="mlops-error">
          {problem}
        </div>
      </div>
    );
  }
  if (!validation) {
    return checking ? (
      <div className="jp-mlops-validation jp-mlops-muted">
        {trans.__('checking…')}
      </div>
    ) : null;
  }
  const count = validation.trial_count;
  return (
    <div
      className={`jp-mlops-validation ${checking ? 'jp-mlops-stale' : ''}`}
      data-valid={String(validation.valid)}
    >
      {validation.valid && (
        <div
          className="jp-mlops-trial-count"
          data-testid="mlops-trial-count"
          data-count={count}
        >
          {trans._n('%1 trial', '%1 trials', count)}
        </div>
      )}
      <ProblemList problems={validation.errors} kind="error" />
      <ProblemList problems={validation.warnings} kind="warning" />
    </div>
  );
}

/** Problems naming their key. */
function ProblemList(props: {
  problems: IProblem[];
  kind: 'error' | 'warning';
}): JSX.Element | null {
  if (!props.problems.length) {
    return null;
  }
  return (
    <ul className="jp-mlops-problems">
      {props.problems.map((problem, index) => (
        <li
          key={index}
          className={`jp-mlops-${props.kind}`}
          data-testid={`mlops-${props.kind}`}
          data-key={problem.key ?? ''}
        >
          {props.kind === 'warning' ? '⚠ ' : '✖ '}
          {problem.key && <code>{problem.key}</code>}
          {problem.key ? ': ' : ''}
          {problem.message}
        </li>
      ))}
    </ul>
  );
}
