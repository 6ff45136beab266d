import React, { useEffect, useState } from 'react';

import { trans } from '../i18n';
import { ConnectionState } from '../types';

/** Props of the connection banner. */
export interface IConnectionBannerProps {
  state: ConnectionState;
  /** When the next attempt is due (ms since epoch), or null. */
  nextRetry: number | null;
  onRetry: () => void;
  /** Reload the page (offered once the server refused the connection). */
  onReload: () => void;
}

/** What the banner says in a state, or null when it is hidden (`open`). */
export function bannerText(
  state: ConnectionState,
  nextRetry: number | null,
  now: number
): string | null {
  switch (state) {
    case 'open':
      return null;
    case 'connecting':
      return trans.__('Connecting to the MLOps hub…');
    case 'reconnecting': {
      const seconds =
        nextRetry !== null
          ? Math.max(0, Math.ceil((nextRetry - now) / 1000))
          : 0;
      return seconds
        ? trans.__(
            'Connection to the MLOps hub lost — reconnecting… (next try in %1 s)',
            seconds
          )
        : trans.__('Connection to the MLOps hub lost — reconnecting…');
    }
    case 'refused':
      return trans.__(
        'The server refused the connection to the MLOps hub: sign in again, then reload the page.'
      );
    case 'closed':
      return trans.__('Not connected to the MLOps hub.');
  }
}

/** A banner shown while the events connection is not open ("reconnecting…", "refused"). */
export function ConnectionBanner(
  props: IConnectionBannerProps
): JSX.Element | null {
  const { state, nextRetry, onRetry, onReload } = props;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (state !== 'reconnecting') {
      return;
    }
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [state]);

  const text = bannerText(state, nextRetry, now);
  if (text === null) {
    return null;
  }
  return (
    <div
      className={`jp-mlops-banner jp-mlops-banner-${state}`}
      data-testid="mlops-banner"
      role={state === 'refused' ? 'alert' : 'status'}
    >
      <span>{text}</span>
      {state === 'reconnecting' && (
        <button className="jp-mlops-link-button" onClick={onRetry}>
          {trans.__('Retry now')}
        </button>
      )}
      {state === 'refused' && (
        <>
          <button className="jp-mlops-link-button" onClick={onReload}>
            {trans.__('Reload')}
          </button>
          <button className="jp-mlops-link-button" onClick={onRetry}>
            {trans.__('Try again')}
          </button>
        </>
      )}
    </div>
  );
}
