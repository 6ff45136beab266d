import {
  IRenderMime,
  IRenderMimeRegistry,
  MimeModel
} from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import React, { useEffect, useRef } from 'react';

import { VEGALITE_MIME, VegaLiteSpec } from './specs';

/** Least time between two renders of one chart while its data streams in. */
export const RENDER_INTERVAL_MS = 1000;

/** Whether JupyterLab has a renderer for Vega-Lite 5 (its vega5-extension is enabled). */
export function canRenderVega(rendermime: IRenderMimeRegistry | null): boolean {
  return !!rendermime && rendermime.mimeTypes.includes(VEGALITE_MIME);
}

/** Props of a chart rendered by JupyterLab's own Vega-Lite renderer. */
export interface IVegaChartProps {
  rendermime: IRenderMimeRegistry;
  spec: VegaLiteSpec;
  testId: string;
  /** Changes when the chart's container was resized or shown: draw again at its width. */
  layoutVersion?: number;
}

/** How many data rows a spec holds (its inline `data.values`). */
export function specRows(spec: VegaLiteSpec): number {
  const values = spec?.data?.values;
  return Array.isArray(values) ? values.length : 0;
}

/**
 * A Vega-Lite chart drawn by the renderer JupyterLab registers for the Vega-Lite mime
 * type. Renders run one at a time and at most once per `RENDER_INTERVAL_MS`; the latest
 * spec always wins; an unchanged spec is not drawn again. Once a spec is drawn, the
 * chart's `data-drawn-rows` attribute says how many data rows it showed (what tests and
 * scripts can wait on: the chart is current).
 */
export function VegaChart(props: IVegaChartProps): JSX.Element {
  const host = useRef<HTMLDivElement>(null);
  const queue = useRef<RenderQueue | null>(null);
  useEffect(() => {
    const renderer = props.rendermime.createRenderer(VEGALITE_MIME);
    if (host.current?.isConnected) {
      Widget.attach(renderer, host.current);
    } else if (host.current) {
      host.current.appendChild(renderer.node);
    }
    queue.current = new RenderQueue(renderer, spec => {
      host.current?.setAttribute('data-drawn-rows', String(specRows(spec)));
    });
    return () => {
      queue.current?.dispose();
      queue.current = null;
      renderer.dispose();
    };
  }, [props.rendermime]);
  useEffect(() => {
    queue.current?.request(props.spec, props.layoutVersion ?? 0);
  });
  return (
    <div
      className="jp-mlops-compare-chart"
      data-testid={props.testId}
      ref={host}
    />
  );
}

/** Serializes and throttles the renders of one renderer. */
export class RenderQueue {
  /** `onDrawn` is called with each spec once the renderer drew it. */
  constructor(
    private readonly _renderer: Pick<IRenderMime.IRenderer, 'renderModel'>,
    private readonly _onDrawn: (spec: VegaLiteSpec) => void = () => undefined
  ) {}

  /** Draw this spec (soon); a later request replaces one still waiting. */
  request(spec: VegaLiteSpec, layoutVersion: number): void {
    const text = `${layoutVersion}:${JSON.stringify(spec)}`;
    if (text === this._drawn || text === this._next?.text) {
      return;
    }
    this._next = { spec, text };
    this._pump();
  }

  dispose(): void {
    this._disposed = true;
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
  }

  private _pump(): void {
    if (this._busy || this._timer !== null || !this._next || this._disposed) {
      return;
    }
    const wait = this._last + RENDER_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this._timer = setTimeout(() => {
        this._timer = null;
        this._pump();
      }, wait);
      return;
    }
    const { spec, text } = this._next;
    this._next = null;
    this._busy = true;
    this._last = Date.now();
    const model = new MimeModel({
      data: {
        [VEGALITE_MIME]: spec,
        // The renderer adds a PNG copy of the chart to models without one; these are redrawn
        // live and never saved, so a placeholder skips that work.
        'image/png': 'skip'
      },
      metadata: {
        [VEGALITE_MIME]: {
          embed_options: {
            actions: {
              export: true,
              source: false,
              compiled: false,
              editor: false
            }
          }
        }
      }
    });
    this._renderer
      .renderModel(model)
      .then(() => {
        this._drawn = text;
        if (!this._disposed) {
          this._onDrawn(spec);
        }
      })
      .catch(error => {
        console.warn('jupyter-mlops: a compare chart failed to render', error);
      })
      .finally(() => {
        this._busy = false;
        this._pump();
      });
  }

  private _next: { spec: VegaLiteSpec; text: string } | null = null;
  private _drawn = '';
  private _busy = false;
  private _last = 0;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _disposed = false;
}
