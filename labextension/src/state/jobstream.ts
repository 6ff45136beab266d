import { IDisposable } from '@lumino/disposable';

import type { MLOpsService } from '../service';
import type { EventMessage, IJob, ILogLine, IMetricPoint } from '../types';
import { SeqBuffer } from './seqbuffer';

/** The REST methods a catch-up uses (an `MLOpsService`, or a fake in tests). */
export type JobStreamApi = Pick<
  MLOpsService,
  'getJob' | 'getLogs' | 'getMetrics'
>;

/** Page size of log and metric catch-up requests. */
export const PAGE_SIZE = 5000;

/** Most pages read per series and catch-up (a guard against a server that never ends). */
const MAX_PAGES = 10000;

/** Retries of a failed catch-up on the same connection, the n-th after n × this delay. */
const RETRIES = 3;
const RETRY_DELAY_MS = 2000;

/** Items of one series of a job (its log lines or its metric points) and their cursor. */
class Series<T extends { seq: number }> {
  readonly buffer = new SeqBuffer<T>();
  /** Every item up to this seq is held. */
  cursor = 0;
}

/** Log lines and metric points of one watched job, with the cursors that make catch-up exact. */
class JobStream {
  readonly logs = new Series<ILogLine>();
  readonly metrics = new Series<IMetricPoint>();
  /** The connection generation on which this stream caught up, or -1. */
  syncedGeneration = -1;
}

/** What the streams need from their owner. */
export interface IJobStreamsOptions {
  api: JobStreamApi;
  /** Whether the events socket is open now. */
  isOpen: () => boolean;
  /** Receives the job read at the start of each catch-up. */
  onJob: (job: IJob) => void;
  /** Called after any change of a stream. */
  onChange: () => void;
}

/**
 * The logs and metrics of the watched jobs: caught up over REST from their cursors, page by
 * page, and merged with live `log` / `metric` events by `seq`, so neither a reconnect nor a
 * catch-up in flight leaves a gap or a duplicate.
 *
 * A cursor only moves once the stream caught up on the current connection (its
 * *generation*): a live line after a failed catch-up must not jump the cursor over the gap.
 */
export class JobStreams implements IDisposable {
  constructor(private readonly _options: IJobStreamsOptions) {}

  /** Log lines of a watched job, ascending by seq. */
  logs(jobId: number): ReadonlyArray<ILogLine> {
    return this._streams.get(jobId)?.logs.buffer.items ?? [];
  }

  /** Metric points of a watched job, ascending by seq. */
  metrics(jobId: number): ReadonlyArray<IMetricPoint> {
    return this._streams.get(jobId)?.metrics.buffer.items ?? [];
  }

  /** A number that changes whenever the logs or metrics of the job change. */
  version(jobId: number): number {
    const stream = this._streams.get(jobId);
    return stream
      ? stream.logs.buffer.version * 1000003 + stream.metrics.buffer.version
      : 0;
  }

  /** Follow a job's logs and metrics: catch up over REST (when connected), then live. */
  watch(jobId: number): void {
    if (this._streams.has(jobId)) {
      return;
    }
    this._streams.set(jobId, new JobStream());
    if (this._options.isOpen()) {
      void this._catchUp(jobId, this._generation);
    }
  }

  /** The events socket (re)opened: a new generation, whose streams must catch up again. */
  reconnected(): void {
    this._generation += 1;
  }

  /** Catch every watched job up from its cursors. */
  catchUpAll(): void {
    for (const jobId of this._streams.keys()) {
      void this._catchUp(jobId, this._generation);
    }
  }

  /** Merge a live `log` or `metric` event; returns whether it concerned a watched job. */
  applyEvent(message: EventMessage): boolean {
    const stream =
      message.type === 'log' || message.type === 'metric'
        ? this._streams.get(message.job_id)
        : undefined;
    if (!stream) {
      return false;
    }
    const synced = stream.syncedGeneration === this._generation;
    if (message.type === 'log') {
      addLive(stream.logs, message.lines, synced);
    } else if (message.type === 'metric') {
      addLive(stream.metrics, message.points, synced);
    }
    return true;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    this._isDisposed = true;
  }

  /** Catch a watched job up from its cursors, page by page, then mark it synced. */
  private async _catchUp(
    jobId: number,
    generation: number,
    attempt = 0
  ): Promise<void> {
    const stream = this._streams.get(jobId);
    if (!stream) {
      return;
    }
    const { api, onChange } = this._options;
    // Cursors are read before the first await: items arriving live from now on are merged.
    const logAfter = stream.logs.cursor;
    const metricAfter = stream.metrics.cursor;
    try {
      this._options.onJob(await api.getJob(jobId));
      await readPages(stream.logs, logAfter, onChange, async after => {
        return (await api.getLogs(jobId, after, PAGE_SIZE)).lines;
      });
      await readPages(stream.metrics, metricAfter, onChange, async after => {
        return (await api.getMetrics(jobId, after, PAGE_SIZE)).points;
      });
    } catch (error) {
      console.warn(`jupyter-mlops: catching up job ${jobId} failed`, error);
      // Retry a few times on this connection; a reconnect starts a fresh catch-up anyway.
      if (attempt < RETRIES) {
        setTimeout(
          () => {
            if (!this._isDisposed && generation === this._generation) {
              void this._catchUp(jobId, generation, attempt + 1);
            }
          },
          RETRY_DELAY_MS * (attempt + 1)
        );
      }
      return;
    }
    if (generation === this._generation && this._options.isOpen()) {
      // REST covered everything up to its answer; the socket everything since it opened.
      stream.logs.cursor = stream.logs.buffer.maxSeq;
      stream.metrics.cursor = stream.metrics.buffer.maxSeq;
      stream.syncedGeneration = generation;
    }
    onChange();
  }

  private _streams = new Map<number, JobStream>();
  private _generation = 0;
  private _isDisposed = false;
}

/** Read the pages of a series after `after` until an empty one, merging each. */
async function readPages<T extends { seq: number }>(
  series: Series<T>,
  after: number,
  onChange: () => void,
  fetchPage: (after: number) => Promise<T[]>
): Promise<void> {
  for (let page = 0; page < MAX_PAGES; page++) {
    const items = await fetchPage(after);
    if (!items.length) {
      return;
    }
    series.buffer.add(items);
    after = items[items.length - 1].seq;
    onChange();
  }
}

/** Merge live items; a synced series' cursor follows them (the socket missed nothing). */
function addLive<T extends { seq: number }>(
  series: Series<T>,
  items: ReadonlyArray<T>,
  synced: boolean
): void {
  series.buffer.add(items);
  if (synced) {
    series.cursor = series.buffer.maxSeq;
  }
}
