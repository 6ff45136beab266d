import React, { useEffect, useState } from 'react';

import { ConnectionState } from '../types';

/** Props of the connection banner. */
export interface IConnectionBannerProps {
  state: ConnectionState;
  /** When the next attempt is due (ms since epoch), or null. */
  nextRetry: number | null;
  onRetry: () => void;
}

/** A banner shown while the events connection is not open ("reconnecting…"). */
export function ConnectionBanner(
  props: IConnectionBannerProps
): JSX.Element | null {
  const { state, nextRetry, onRetry } = props;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (state !== 'reconnecting') {
      return;
    }
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [state]);

  if (state === 'open') {
    return null;
  }
  let text = 'Connecting to the MLOps hub…';
  if (state === 'reconnecting') {
    const seconds =
      nextRetry !== null ? Math.max(0, Math.ceil((nextRetry - now) / 1000)) : 0;
    text = `Connection to the MLOps hub lost — reconnecting…${
      seconds ? ` (next try in ${seconds} s)` : ''
    }`;
  } else if (state === 'closed') {
    text = 'Not connected to the MLOps hub.';
  }
  return (
    <div
      className={`jp-mlops-banner jp-mlops-banner-${state}`}
      data-testid="mlops-banner"
      role="status"
    >
      <span>{text}</span>
      {state === 'reconnecting' && (
        <button className="jp-mlops-link-button" onClick={onRetry}>
          Retry now
        </button>
      )}
    </div>
  );
}
