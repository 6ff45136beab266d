import React, { useEffect, useMemo, useReducer, useState } from 'react';

import { timeAgo } from '../format';
import { trans } from '../i18n';
import { withNode } from './WorkersView';
import { RemoteWorkers, TokenApi } from '../state/tokens';
import { IToken } from '../types';
import { useNow } from './useModel';

/** Props of the remote-workers view. */
export interface IRemoteWorkersViewProps {
  api: TokenApi;
}

/**
 * "Add a remote worker": issues a worker token and shows, once, the two lines to paste on
 * the remote machine, with a copy button; lists the scoped tokens with Revoke.
 */
export function RemoteWorkersView(props: IRemoteWorkersViewProps): JSX.Element {
  const [, redraw] = useReducer((n: number) => n + 1, 0);
  const state = useMemo(
    () => new RemoteWorkers(props.api, redraw),
    [props.api]
  );
  const [name, setName] = useState('');
  const [copied, setCopied] = useState(false);
  const now = useNow();
  useEffect(() => {
    void state.reload();
  }, [state]);
  const issued = state.issued;
  const copy = async (): Promise<void> => {
    await navigator.clipboard.writeText(state.setupText);
    setCopied(true);
  };
  return (
    <div className="jp-mlops-remote" data-testid="mlops-remote-workers">
      <div className="jp-mlops-row">
        <input
          className="jp-mlops-remote-name"
          placeholder={trans.__('name, e.g. colab-gpu')}
          value={name}
          onChange={event => setName(event.target.value)}
        />
        <button
          className="jp-mlops-button jp-mod-accept"
          data-testid="mlops-add-remote-worker"
          onClick={() => {
            setCopied(false);
            void state.add(name);
          }}
        >
          {trans.__('Add a remote worker')}
        </button>
      </div>
      {issued && (
        <div className="jp-mlops-remote-setup" data-testid="mlops-remote-setup">
          <div className="jp-mlops-meta">
            {withNode(
              trans.__(
                'Paste the first line where the worker starts (its shell, or a Colab secret), the second in its notebook after %1. The token is shown only now.',
                '%1'
              ),
              <code>%load_ext jupyter_mlops</code>
            )}
          </div>
          <pre className="jp-mlops-remote-lines">{state.setupText}</pre>
          <div className="jp-mlops-row">
            <button className="jp-mlops-button" onClick={() => void copy()}>
              {copied ? trans.__('Copied') : trans.__('Copy')}
            </button>
            <button className="jp-mlops-button" onClick={() => state.dismiss()}>
              {trans.__('Done')}
            </button>
          </div>
        </div>
      )}
      {state.error && (
        <div className="jp-mlops-banner jp-mlops-banner-error">
          {state.error}
        </div>
      )}
      {state.tokens.length > 0 && (
        <ul className="jp-mlops-list jp-mlops-tokens">
          {state.tokens.map(token => (
            <TokenItem
              key={token.id}
              token={token}
              now={now}
              onRevoke={() => void state.revoke(token.id)}
            />
          ))}
        </ul>
      )}
    </div>
  );
}

function TokenItem(props: {
  token: IToken;
  now: number;
  onRevoke: () => void;
}): JSX.Element {
  const { token, now } = props;
  return (
    <li
      className="jp-mlops-token"
      data-testid="mlops-token"
      data-token-name={token.name}
      data-revoked={String(token.revoked !== null)}
    >
      <span className="jp-mlops-worker-name">{token.name}</span>
      <span className="jp-mlops-badge">{token.scope}</span>
      <span className="jp-mlops-meta">
        {' '}
        {trans.__(
          'created %1 · last used %2',
          timeAgo(token.created, now),
          timeAgo(token.last_used, now)
        )}
      </span>
      {token.revoked ? (
        <span className="jp-mlops-meta">
          {' '}
          · {trans.__('revoked %1', timeAgo(token.revoked, now))}
        </span>
      ) : (
        <button
          className="jp-mlops-button jp-mod-warn"
          data-testid="mlops-revoke-token"
          onClick={props.onRevoke}
        >
          {trans.__('Revoke')}
        </button>
      )}
    </li>
  );
}
