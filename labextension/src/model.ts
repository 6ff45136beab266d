import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import type { MLOpsService } from './service';
import { EntityStore, IModelGroupView } from './state/entities';
import { JobStreams } from './state/jobstream';
import { Notice, noticeFor } from './state/notices';
import { Selection } from './state/selection';
import {
  ConnectionState,
  EventMessage,
  IDeployment,
  IJob,
  ILogLine,
  IMetricPoint,
  IModel,
  IWorker,
  JSONObject
} from './types';

export { mergeJob } from './state/entities';
export type { IModelGroupView } from './state/entities';
export { PAGE_SIZE } from './state/jobstream';

/** The REST methods the model uses (an `MLOpsService`, or a fake in tests). */
export type MLOpsApi = Pick<
  MLOpsService,
  | 'listWorkers'
  | 'forgetWorker'
  | 'listJobs'
  | 'getJob'
  | 'launchJob'
  | 'cancelJob'
  | 'retryJob'
  | 'getLogs'
  | 'getMetrics'
  | 'listModels'
  | 'clearModels'
  | 'getDeployment'
  | 'deploy'
  | 'getDeploymentHistory'
>;

/** The events client as the model sees it (an `EventsClient`, or a fake in tests). */
export interface IEventSource {
  readonly message: ISignal<any, EventMessage>;
  readonly stateChanged: ISignal<any, ConnectionState>;
  readonly state: ConnectionState;
}

/**
 * The panel's state, one `changed` signal for the views. It wires three parts together:
 * the hub's entities (`state/entities`), the selected job (`state/selection`) and the logs
 * and metrics of the jobs looked at (`state/jobstream`).
 *
 * On every (re)connect of the events socket it re-reads everything over REST — logs and
 * metrics from their cursors — then follows the live events. No polling.
 */
export class MLOpsModel implements IDisposable {
  constructor(
    readonly api: MLOpsApi,
    readonly events: IEventSource
  ) {
    this._streams = new JobStreams({
      api,
      isOpen: () => this.events.state === 'open',
      onJob: job => this._entities.upsertJob(job),
      onChange: () => this._changed.emit()
    });
    this._selection = new Selection({
      job: jobId => this._entities.job(jobId),
      onSelect: jobId => this._streams.watch(jobId)
    });
    events.message.connect(this._onMessage, this);
    events.stateChanged.connect(this._onState, this);
    if (events.state === 'open') {
      void this.refresh();
    }
  }

  /** Emitted after any change of the state. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /**
   * A live event worth a notification (a model deployed automatically, a job that finished
   * or failed); never emitted for what a REST refresh brings.
   */
  get notice(): ISignal<this, Notice> {
    return this._notice;
  }

  /** State of the events connection. */
  get connection(): ConnectionState {
    return this.events.state;
  }

  /** The last error of a REST refresh, or null. */
  get error(): string | null {
    return this._error;
  }

  /** True once a REST refresh succeeded. */
  get loaded(): boolean {
    return this._loaded;
  }

  /** Workers: online first, then by name. */
  get workers(): IWorker[] {
    return this._entities.workers;
  }

  /** Jobs, newest first. */
  get jobs(): IJob[] {
    return this._entities.jobs;
  }

  /** One job, or undefined. */
  job(jobId: number): IJob | undefined {
    return this._entities.job(jobId);
  }

  /** Stored models. */
  get models(): IModel[] {
    return this._entities.models;
  }

  /** Models grouped by job, newest job first, each group in trial order. */
  get modelGroups(): IModelGroupView[] {
    return this._entities.modelGroups;
  }

  /** The deployed model's deployment, or null. */
  get deployment(): IDeployment | null {
    return this._entities.deployment;
  }

  /** Deployment history, newest first. */
  get history(): IDeployment[] {
    return this._entities.history;
  }

  /** The job whose details (logs, curves) are shown, or null. */
  get selectedJobId(): number | null {
    return this._selection.jobId;
  }

  /** Log lines of a watched job, ascending by seq. */
  logs(jobId: number): ReadonlyArray<ILogLine> {
    return this._streams.logs(jobId);
  }

  /** Metric points of a watched job, ascending by seq. */
  metrics(jobId: number): ReadonlyArray<IMetricPoint> {
    return this._streams.metrics(jobId);
  }

  /** A number that changes whenever the logs or metrics of the job change. */
  streamVersion(jobId: number): number {
    return this._streams.version(jobId);
  }

  /** Show this job's details, and start following its logs and metrics. */
  selectJob(jobId: number | null): void {
    if (this._selection.select(jobId)) {
      this._changed.emit();
    }
  }

  /** Launch a grid search; the new job is selected. */
  async launch(conf: JSONObject, worker: string): Promise<IJob> {
    const job = await this.api.launchJob(conf, worker);
    this._entities.upsertJob(job);
    this.selectJob(job.id);
    this._changed.emit();
    return job;
  }

  /** Cancel a job. */
  async cancel(jobId: number): Promise<void> {
    this._entities.upsertJob(await this.api.cancelJob(jobId));
    this._changed.emit();
  }

  /** Re-run the failed trials of a job (its answer may revive a final job). */
  async retry(jobId: number): Promise<void> {
    this._entities.upsertJob(await this.api.retryJob(jobId), true);
    this._changed.emit();
  }

  /** Forget an offline worker: it leaves the list (the server says 409 while it is online). */
  async forgetWorker(workerId: number): Promise<void> {
    const worker = await this.api.forgetWorker(workerId);
    this._entities.applyEvent({
      type: 'worker',
      worker: { ...worker, forgotten: true }
    });
    this._changed.emit();
  }

  /** Deploy (roll back to) a model by hand. */
  async deploy(modelId: string): Promise<void> {
    this._entities.applyDeployment(await this.api.deploy(modelId));
    this._changed.emit();
  }

  /** Delete every model and deployment (the demo reset). */
  async clearStore(): Promise<number> {
    const deleted = await this.api.clearModels();
    this._entities.clearModels();
    this._changed.emit();
    return deleted;
  }

  /** Re-read everything over REST: workers, jobs, models, deployment and watched jobs. */
  async refresh(): Promise<void> {
    this._streams.catchUpAll();
    try {
      const [workers, jobs, models, deployment, history] = await Promise.all([
        this.api.listWorkers(),
        this.api.listJobs(),
        this.api.listModels(),
        this.api.getDeployment(),
        this.api.getDeploymentHistory()
      ]);
      this._entities.applySnapshot({
        workers,
        jobs,
        models: models.models,
        deployment,
        history
      });
      this._error = null;
      this._loaded = true;
      this._selection.selectNewestIfNone(jobs);
    } catch (error) {
      this._error = `Could not load the MLOps state: ${(error as Error).message}`;
    }
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
    this._streams.dispose();
    Signal.disconnectReceiver(this);
    Signal.clearData(this);
  }

  private _onState(sender: any, state: ConnectionState): void {
    if (state === 'open') {
      this._streams.reconnected();
      void this.refresh();
    }
    this._changed.emit();
  }

  private _onMessage(sender: any, message: EventMessage): void {
    const known = message.type === 'job' ? this.job(message.job.id) : undefined;
    const before = known ? { ...known } : undefined;
    const newJobId = message.type === 'job' && !known ? message.job.id : null;
    const applied =
      this._entities.applyEvent(message) || this._streams.applyEvent(message);
    if (newJobId !== null) {
      this._selection.offerNewJob(newJobId);
    }
    if (applied) {
      this._changed.emit();
    }
    const notice = noticeFor(message, before);
    if (notice) {
      this._notice.emit(notice);
    }
  }

  private _entities = new EntityStore();
  private _streams: JobStreams;
  private _selection: Selection;
  private _error: string | null = null;
  private _loaded = false;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
  private _notice = new Signal<this, Notice>(this);
}
