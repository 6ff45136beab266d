import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import type { IEventSource } from '../model';
import type { MLOpsService } from '../service';
import { SeqBuffer } from '../state/seqbuffer';
import {
  ConnectionState,
  EventMessage,
  FINAL_JOB_STATES,
  IJob,
  IMetricPoint,
  ISearchSummary,
  ITrial
} from '../types';
import { FINAL_TRIAL_STATES, mergeTrials, sortTrials } from './trials';

/** The REST methods the compare view reads (an `MLOpsService`, or a fake in tests). */
export type CompareApi = Pick<
  MLOpsService,
  'getJob' | 'getMetrics' | 'getSearch'
>;

/** Metric points per REST page. */
export const COMPARE_PAGE_SIZE = 5000;

/** Most pages per catch-up (a guard against a server that never ends). */
const MAX_PAGES = 10000;

/** Delay before re-reading the search summary after trials ended (they often end together). */
export const SEARCH_DELAY_MS = 1000;

/**
 * The state of one job's compare view: the job, its trials, every metric point and the
 * search summary. Read over REST when made and after every (re)connect of the events
 * socket; kept current by live `job` and `metric` events in between. A `job` event may
 * carry only the trials that changed: trials are merged by id.
 *
 * Metric points are merged by `seq`; the REST cursor only moves over pages read, so a
 * reconnect re-reads from the last page and never leaves a gap.
 */
export class CompareStore implements IDisposable {
  constructor(
    readonly jobId: number,
    readonly api: CompareApi,
    readonly events: IEventSource
  ) {
    events.message.connect(this._onMessage, this);
    events.stateChanged.connect(this._onState, this);
    void this.refresh();
  }

  /** Emitted after any change. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The job (its trials are in `trials`), or null before the first answer. */
  get job(): IJob | null {
    return this._job;
  }

  /** The trials, in job order. */
  get trials(): ITrial[] {
    return this._sorted;
  }

  /** Every metric point of the job, ascending by seq. */
  get points(): ReadonlyArray<IMetricPoint> {
    return this._points.items;
  }

  /** Changes whenever the points change. */
  get pointsVersion(): number {
    return this._points.version;
  }

  /** The search summary, or null (not read yet, or the server has none). */
  get search(): ISearchSummary | null {
    return this._search;
  }

  /** Why the last read failed, or null. */
  get error(): string | null {
    return this._error;
  }

  /** True once the job was read. */
  get loaded(): boolean {
    return this._job !== null;
  }

  get connection(): ConnectionState {
    return this.events.state;
  }

  /** Re-read the job, the metric points after the cursor and the search summary. */
  async refresh(): Promise<void> {
    // The search summary is optional (`_readSearch` never throws); the job and points are not.
    const failures: Error[] = [];
    const settle = (read: Promise<void>) =>
      read.catch(error => {
        failures.push(error as Error);
      });
    await Promise.all([
      settle(this._readJob()),
      settle(this._readPoints()),
      this._readSearch()
    ]);
    if (this._isDisposed) {
      return;
    }
    this._error = failures.length
      ? `Could not load job ${this.jobId}: ${failures[0].message}`
      : null;
    this._changed.emit();
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    if (this._searchTimer !== null) {
      clearTimeout(this._searchTimer);
    }
    Signal.disconnectReceiver(this);
    Signal.clearData(this);
  }

  private async _readJob(): Promise<void> {
    const job = await this.api.getJob(this.jobId);
    if (!this._isDisposed) {
      this._applyJob(job, true);
    }
  }

  private async _readPoints(): Promise<void> {
    let after = this._cursor;
    for (let page = 0; page < MAX_PAGES && !this._isDisposed; page++) {
      const answer = await this.api.getMetrics(
        this.jobId,
        after,
        COMPARE_PAGE_SIZE
      );
      const points = answer.points ?? [];
      if (!points.length) {
        return;
      }
      this._points.add(points);
      after = points[points.length - 1].seq;
      this._cursor = Math.max(this._cursor, after);
      this._changed.emit();
    }
  }

  /** The search summary; a server without it (404, an older hub) leaves it null. */
  private async _readSearch(): Promise<void> {
    try {
      const search = await this.api.getSearch(this.jobId);
      if (!this._isDisposed) {
        this._search = search;
        this._changed.emit();
      }
    } catch (error) {
      console.warn(
        `jupyter-mlops: no search summary for job ${this.jobId}`,
        error
      );
    }
  }

  /** Re-read the search summary soon (once for a burst of ended trials). */
  private _scheduleSearch(): void {
    if (this._searchTimer !== null || this._isDisposed) {
      return;
    }
    this._searchTimer = setTimeout(() => {
      this._searchTimer = null;
      void this._readSearch();
    }, SEARCH_DELAY_MS);
  }

  /** Apply a view of the job; returns whether a trial or the job reached a final state. */
  private _applyJob(incoming: IJob, snapshot: boolean): boolean {
    const { trials, ...job } = incoming;
    const before = this._trials;
    const held = this._job;
    // A late REST answer cannot revive a job that events showed ending (see `mergeJob`).
    const keep =
      snapshot &&
      held !== null &&
      FINAL_JOB_STATES.includes(held.status) &&
      !FINAL_JOB_STATES.includes(job.status);
    if (!keep) {
      this._job = job;
    }
    if (trials) {
      this._trials = mergeTrials(before, trials, snapshot);
      this._sorted = sortTrials(this._trials.values());
    }
    const trialEnded = (trials ?? []).some(
      t =>
        FINAL_TRIAL_STATES.includes(t.status) &&
        before.get(t.id)?.status !== t.status
    );
    const jobEnded =
      !keep &&
      FINAL_JOB_STATES.includes(job.status) &&
      held?.status !== job.status;
    return trialEnded || jobEnded;
  }

  private _onState(sender: any, state: ConnectionState): void {
    if (state === 'open') {
      void this.refresh();
    }
    this._changed.emit();
  }

  private _onMessage(sender: any, message: EventMessage): void {
    if (message.type === 'job' && message.job.id === this.jobId) {
      if (this._applyJob(message.job, false)) {
        this._scheduleSearch();
      }
      this._changed.emit();
    } else if (message.type === 'metric' && message.job_id === this.jobId) {
      if (this._points.add(message.points)) {
        this._changed.emit();
      }
    }
  }

  private _job: IJob | null = null;
  private _trials = new Map<string, ITrial>();
  private _sorted: ITrial[] = [];
  private _points = new SeqBuffer<IMetricPoint>();
  /** Every point up to this seq was read over REST. */
  private _cursor = 0;
  private _search: ISearchSummary | null = null;
  private _error: string | null = null;
  private _searchTimer: ReturnType<typeof setTimeout> | null = null;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}
