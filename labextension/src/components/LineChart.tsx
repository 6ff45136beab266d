import React from 'react';

import { formatMetric } from '../format';
import { trans } from '../i18n';

/** Props of a small line chart. */
export interface ILineChartProps {
  /** Metric name, shown as the title. */
  name: string;
  /** Points ordered by x. */
  points: { x: number; y: number }[];
  /** Label of the x axis, e.g. "step" or "epoch". */
  xLabel?: string;
  width?: number;
  height?: number;
}

/** A small inline SVG line chart: one series, min/max labels, the last value in the title. */
export function LineChart(props: ILineChartProps): JSX.Element {
  const { name, points } = props;
  const width = props.width ?? 160;
  const height = props.height ?? 56;
  const pad = { left: 4, right: 4, top: 6, bottom: 6 };
  // NaN and ±Infinity arrive as text (see format.ts NON_FINITE): drawn as gaps, never as
  // coordinates; the last value is still shown as it is ("NaN")
  const drawn = points.filter(p => typeof p.y === 'number' && isFinite(p.y));
  const xs = drawn.map(p => p.x);
  const ys = drawn.map(p => p.y);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const yMin = Math.min(...ys);
  const yMax = Math.max(...ys);
  const sx = (x: number) =>
    pad.left +
    (xMax === xMin ? 0.5 : (x - xMin) / (xMax - xMin)) *
      (width - pad.left - pad.right);
  const sy = (y: number) =>
    height -
    pad.bottom -
    (yMax === yMin ? 0.5 : (y - yMin) / (yMax - yMin)) *
      (height - pad.top - pad.bottom);
  const path = drawn
    .map(
      (p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`
    )
    .join(' ');
  const last = points[points.length - 1];
  return (
    <figure
      className="jp-mlops-chart"
      data-testid="mlops-chart"
      data-metric={name}
      data-points={points.length}
    >
      <figcaption className="jp-mlops-chart-title">
        <span className="jp-mlops-chart-name" title={name}>
          {name}
        </span>
        <span className="jp-mlops-chart-last">
          {last ? formatMetric(name, last.y) : ''}
        </span>
      </figcaption>
      <svg
        viewBox={`0 0 ${width} ${height}`}
        width="100%"
        height={height}
        preserveAspectRatio="none"
        role="img"
        aria-label={trans.__(
          '%1 per %2',
          name,
          props.xLabel ?? trans.__('step')
        )}
      >
        <line
          className="jp-mlops-chart-axis"
          x1={pad.left}
          x2={width - pad.right}
          y1={height - pad.bottom}
          y2={height - pad.bottom}
        />
        {points.length > 1 && (
          <path
            className="jp-mlops-chart-line"
            d={path}
            vectorEffect="non-scaling-stroke"
          />
        )}
        {last && (
          <circle
            className="jp-mlops-chart-dot"
            cx={sx(last.x)}
            cy={sy(last.y)}
            r={2.5}
          />
        )}
      </svg>
      <div className="jp-mlops-chart-range">
        <span>
          {formatMetric(name, yMin)} – {formatMetric(name, yMax)}
        </span>
        <span>
          {props.xLabel ?? 'step'} {xMin}–{xMax}
        </span>
      </div>
    </figure>
  );
}
