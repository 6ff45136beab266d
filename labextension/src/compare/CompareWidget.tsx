import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import React from 'react';

import { CompareView } from './CompareView';
import { CompareStore } from './store';

/** A Lumino message (the type, without depending on `@lumino/messaging`). */
type Message = Parameters<Widget['processMessage']>[0];

/** Wait after the last resize before the charts are drawn again at the new width. */
const RESIZE_SETTLE_MS = 200;

/** The content of a job's compare tab: owns the job's `CompareStore`. */
export class CompareWidget extends ReactWidget {
  constructor(
    readonly store: CompareStore,
    readonly rendermime: IRenderMimeRegistry | null
  ) {
    super();
    this.addClass('jp-mlops-compare-widget');
  }

  /** The job compared. */
  get jobId(): number {
    return this.store.jobId;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    this.store.dispose();
    Signal.clearData(this);
    super.dispose();
  }

  protected render(): JSX.Element {
    return (
      <CompareView
        store={this.store}
        rendermime={this.rendermime}
        layoutChanged={this._layoutChanged}
      />
    );
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._relayout();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this._relayout();
  }

  private _relayout(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      this._layoutChanged.emit();
    }, RESIZE_SETTLE_MS);
  }

  private _layoutChanged = new Signal<this, void>(this);
  private _timer: ReturnType<typeof setTimeout> | null = null;
}
