import React, { useLayoutEffect, useRef } from 'react';

import { clock } from '../format';
import { trans } from '../i18n';
import { ILogLine } from '../types';

/** Props of the log view. */
export interface ILogViewProps {
  lines: ReadonlyArray<ILogLine>;
  /** Changes whenever `lines` changes (the array is updated in place). */
  version: number;
  /** Most lines rendered; older ones are summarized. */
  maxLines?: number;
}

/** A job's log, following the end while the user has not scrolled up. */
function LogViewImpl(props: ILogViewProps): JSX.Element {
  const { lines } = props;
  const maxLines = props.maxLines ?? 3000;
  const box = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);

  useLayoutEffect(() => {
    const node = box.current;
    if (node && atBottom.current) {
      node.scrollTop = node.scrollHeight;
    }
  });

  const hidden = Math.max(0, lines.length - maxLines);
  const shown = hidden ? lines.slice(hidden) : lines;
  return (
    <div
      className="jp-mlops-log"
      data-testid="mlops-log"
      data-count={lines.length}
      ref={box}
      onScroll={event => {
        const node = event.currentTarget;
        atBottom.current =
          node.scrollHeight - node.scrollTop - node.clientHeight < 24;
      }}
    >
      {hidden > 0 && (
        <div className="jp-mlops-muted">
          {trans._n(
            '… %1 earlier line not shown',
            '… %1 earlier lines not shown',
            hidden
          )}
        </div>
      )}
      {shown.length === 0 && (
        <div className="jp-mlops-muted">{trans.__('No log lines yet.')}</div>
      )}
      {shown.map(line => (
        <div
          key={line.seq}
          className={`jp-mlops-log-line jp-mlops-log-${line.stream}`}
          data-seq={line.seq}
          title={
            line.trial_id
              ? `${clock(line.time)} · ${trans.__('trial %1', line.trial_id)}`
              : clock(line.time)
          }
        >
          {line.trial_id && (
            <span className="jp-mlops-log-trial">
              [{line.trial_id.split('-').pop()}]
            </span>
          )}
          {line.text}
        </div>
      ))}
    </div>
  );
}

export const LogView = React.memo(
  LogViewImpl,
  (a, b) => a.lines === b.lines && a.version === b.version
);
