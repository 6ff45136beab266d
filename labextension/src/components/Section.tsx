import React, { useState } from 'react';

/** Props of a collapsible panel section. */
export interface ISectionProps {
  title: string;
  /** Short text after the title, e.g. a count. */
  badge?: string;
  testId: string;
  className?: string;
  children?: React.ReactNode;
}

/** A collapsible section of the panel with a header. */
export function Section(props: ISectionProps): JSX.Element {
  const [open, setOpen] = useState(true);
  return (
    <section
      className={`jp-mlops-section ${props.className ?? ''}`}
      data-testid={props.testId}
    >
      <button
        className="jp-mlops-section-header"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
      >
        <span className="jp-mlops-caret">{open ? '▾' : '▸'}</span>
        <span className="jp-mlops-section-title">{props.title}</span>
        {props.badge && (
          <span className="jp-mlops-section-badge">{props.badge}</span>
        )}
      </button>
      {open && <div className="jp-mlops-section-body">{props.children}</div>}
    </section>
  );
}
