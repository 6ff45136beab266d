import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { SeqBuffer } from './seqbuffer';
import type { MLOpsService } from './service';
import {
  ConnectionState,
  EventMessage,
  FINAL_JOB_STATES,
  IDeployment,
  IJob,
  ILogLine,
  IMetricPoint,
  IModel,
  IWorker,
  JSONObject
} from './types';

/** The REST methods the model uses (an `MLOpsService`, or a fake in tests). */
export type MLOpsApi = Pick<
  MLOpsService,
  | 'listWorkers'
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

/** Models of one job, for the models view. */
export interface IModelGroupView {
  job_id: number;
  models: IModel[];
}

/** Page size of log and metric catch-up requests. */
export const PAGE_SIZE = 5000;

/** Log lines and metric points of one watched job, with the cursors that make catch-up exact. */
class JobStream {
  logs = new SeqBuffer<ILogLine>();
  metrics = new SeqBuffer<IMetricPoint>();
  /** Every log line up to this seq is held. */
  logCursor = 0;
  /** Every metric point up to this seq is held. */
  metricCursor = 0;
  /** The connection generation on which this stream caught up, or -1. */
  syncedGeneration = -1;
}

/**
 * The panel's state: workers, jobs, models, deployment and the logs and metrics of the jobs
 * the user looks at.
 *
 * On every (re)connect of the events socket it re-reads everything over REST — logs and
 * metrics from its cursors — then follows the live events. Log lines and metric points are
 * merged by `seq`, so catch-up and live events never leave a gap or a duplicate. No polling.
 */
export class MLOpsModel implements IDisposable {
  constructor(
    readonly api: MLOpsApi,
    readonly events: IEventSource
  ) {
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
    return Array.from(this._workers.values()).sort(
      (a, b) =>
        Number(b.online) - Number(a.online) || a.name.localeCompare(b.name)
    );
  }

  /** Jobs, newest first. */
  get jobs(): IJob[] {
    return Array.from(this._jobs.values()).sort((a, b) => b.id - a.id);
  }

  /** One job, or undefined. */
  job(jobId: number): IJob | undefined {
    return this._jobs.get(jobId);
  }

  /** Stored models. */
  get models(): IModel[] {
    return Array.from(this._models.values());
  }

  /** Models grouped by job, newest job first, each group in trial order. */
  get modelGroups(): IModelGroupView[] {
    const groups = new Map<number, IModel[]>();
    for (const model of this._models.values()) {
      const list = groups.get(model.job_id) ?? [];
      list.push(model);
      groups.set(model.job_id, list);
    }
    return Array.from(groups.entries())
      .sort((a, b) => b[0] - a[0])
      .map(([job_id, models]) => ({
        job_id,
        models: models.sort((a, b) =>
          a.trial_id.localeCompare(b.trial_id, undefined, { numeric: true })
        )
      }));
  }

  /** The deployed model's deployment, or null. */
  get deployment(): IDeployment | null {
    return this._deployment;
  }

  /** Deployment history, newest first. */
  get history(): IDeployment[] {
    return this._history;
  }

  /** The job whose details (logs, curves) are shown, or null. */
  get selectedJobId(): number | null {
    return this._selectedJobId;
  }

  /** Log lines of a watched job, ascending by seq. */
  logs(jobId: number): ReadonlyArray<ILogLine> {
    return this._streams.get(jobId)?.logs.items ?? [];
  }

  /** Metric points of a watched job, ascending by seq. */
  metrics(jobId: number): ReadonlyArray<IMetricPoint> {
    return this._streams.get(jobId)?.metrics.items ?? [];
  }

  /** A number that changes whenever the logs or metrics of the job change. */
  streamVersion(jobId: number): number {
    const stream = this._streams.get(jobId);
    return stream ? stream.logs.version * 1000003 + stream.metrics.version : 0;
  }

  /** Show this job's details, and start following its logs and metrics. */
  selectJob(jobId: number | null): void {
    if (this._selectedJobId === jobId) {
      return;
    }
    this._selectedJobId = jobId;
    if (jobId !== null) {
      this.watch(jobId);
    }
    this._changed.emit();
  }

  /** Follow a job's logs and metrics: catch up over REST (when connected), then live. */
  watch(jobId: number): void {
    if (this._streams.has(jobId)) {
      return;
    }
    this._streams.set(jobId, new JobStream());
    if (this.events.state === 'open') {
      void this._catchUp(jobId, this._generation);
    }
  }

  /** Launch a grid search; the new job is selected. */
  async launch(conf: JSONObject, worker: string): Promise<IJob> {
    const job = await this.api.launchJob(conf, worker);
    this._upsertJob(job);
    this.selectJob(job.id);
    this._changed.emit();
    return job;
  }

  /** Cancel a job. */
  async cancel(jobId: number): Promise<void> {
    this._upsertJob(await this.api.cancelJob(jobId));
    this._changed.emit();
  }

  /** Re-run the failed trials of a job. */
  async retry(jobId: number): Promise<void> {
    this._upsertJob(await this.api.retryJob(jobId), true);
    this._changed.emit();
  }

  /** Deploy (roll back to) a model by hand. */
  async deploy(modelId: string): Promise<void> {
    this._applyDeployment(await this.api.deploy(modelId));
    this._changed.emit();
  }

  /** Delete every model and deployment (the demo reset). */
  async clearStore(): Promise<number> {
    const deleted = await this.api.clearModels();
    this._models.clear();
    this._deployment = null;
    this._history = [];
    this._changed.emit();
    return deleted;
  }

  /** Re-read everything over REST: workers, jobs, models, deployment and watched jobs. */
  async refresh(): Promise<void> {
    const generation = this._generation;
    for (const jobId of this._streams.keys()) {
      void this._catchUp(jobId, generation);
    }
    try {
      const [workers, jobs, models, deployment, history] = await Promise.all([
        this.api.listWorkers(),
        this.api.listJobs(),
        this.api.listModels(),
        this.api.getDeployment(),
        this.api.getDeploymentHistory()
      ]);
      this._workers = new Map(workers.map(w => [w.id, w]));
      const known = this._jobs;
      this._jobs = new Map();
      for (const job of jobs) {
        const old = known.get(job.id);
        this._jobs.set(job.id, old ? mergeJob(old, job) : job);
      }
      this._models = new Map(models.models.map(m => [m.id, m]));
      this._deployment = deployment;
      this._history = history;
      this._markDeployed();
      this._error = null;
      this._loaded = true;
      if (this._selectedJobId === null && jobs.length) {
        this.selectJob(jobs[0].id);
      }
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
    Signal.disconnectReceiver(this);
    Signal.clearData(this);
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
    // Cursors are read before the first await: lines arriving live from now on are merged.
    let logAfter = stream.logCursor;
    let metricAfter = stream.metricCursor;
    try {
      const job = await this.api.getJob(jobId);
      this._upsertJob(job);
      for (let page = 0; page < 10000; page++) {
        const answer = await this.api.getLogs(jobId, logAfter, PAGE_SIZE);
        if (!answer.lines.length) {
          break;
        }
        stream.logs.add(answer.lines);
        logAfter = answer.lines[answer.lines.length - 1].seq;
        this._changed.emit();
      }
      for (let page = 0; page < 10000; page++) {
        const answer = await this.api.getMetrics(jobId, metricAfter, PAGE_SIZE);
        if (!answer.points.length) {
          break;
        }
        stream.metrics.add(answer.points);
        metricAfter = answer.points[answer.points.length - 1].seq;
        this._changed.emit();
      }
    } catch (error) {
      console.warn(`jupyter-mlops: catching up job ${jobId} failed`, error);
      // Retry a few times on this connection; a reconnect starts a fresh catch-up anyway.
      if (attempt < 3) {
        setTimeout(
          () => {
            if (!this._isDisposed && generation === this._generation) {
              void this._catchUp(jobId, generation, attempt + 1);
            }
          },
          2000 * (attempt + 1)
        );
      }
      return;
    }
    if (generation === this._generation && this.events.state === 'open') {
      // REST covered everything up to its answer; the socket everything since it opened.
      stream.logCursor = stream.logs.maxSeq;
      stream.metricCursor = stream.metrics.maxSeq;
      stream.syncedGeneration = generation;
    }
    this._changed.emit();
  }

  private _onState(sender: any, state: ConnectionState): void {
    if (state === 'open') {
      this._generation += 1;
      void this.refresh();
    }
    this._changed.emit();
  }

  private _onMessage(sender: any, message: EventMessage): void {
    switch (message.type) {
      case 'worker':
        this._workers.set(message.worker.id, message.worker);
        break;
      case 'job': {
        const isNew = !this._jobs.has(message.job.id);
        this._upsertJob(message.job, true);
        const selected =
          this._selectedJobId === null
            ? undefined
            : this._jobs.get(this._selectedJobId);
        if (
          isNew &&
          (!selected || FINAL_JOB_STATES.includes(selected.status))
        ) {
          this.selectJob(message.job.id);
        }
        break;
      }
      case 'log': {
        const stream = this._streams.get(message.job_id);
        if (!stream) {
          return;
        }
        stream.logs.add(message.lines);
        if (stream.syncedGeneration === this._generation) {
          stream.logCursor = stream.logs.maxSeq;
        }
        break;
      }
      case 'metric': {
        const stream = this._streams.get(message.job_id);
        if (!stream) {
          return;
        }
        stream.metrics.add(message.points);
        if (stream.syncedGeneration === this._generation) {
          stream.metricCursor = stream.metrics.maxSeq;
        }
        break;
      }
      case 'model':
        if (message.action === 'cleared') {
          this._models.clear();
          this._deployment = null;
          this._history = [];
        } else if (message.model) {
          this._models.set(message.model.id, message.model);
          this._markDeployed();
        }
        break;
      case 'deployment':
        this._applyDeployment(message.deployment);
        break;
      default:
        return;
    }
    this._changed.emit();
  }

  private _upsertJob(job: IJob, live = false): void {
    const old = this._jobs.get(job.id);
    this._jobs.set(job.id, old ? mergeJob(old, job, live) : job);
  }

  private _applyDeployment(deployment: IDeployment | null): void {
    this._deployment = deployment;
    if (deployment && !this._history.some(d => d.id === deployment.id)) {
      this._history = [deployment, ...this._history].sort(
        (a, b) => b.id - a.id
      );
    }
    if (deployment?.model && !this._models.has(deployment.model_id)) {
      this._models.set(deployment.model_id, deployment.model);
    }
    this._markDeployed();
  }

  /** Keep every model's `deployed` flag in line with the current deployment. */
  private _markDeployed(): void {
    const deployedId = this._deployment?.model_id ?? null;
    for (const [id, model] of this._models) {
      const deployed = id === deployedId;
      if (model.deployed !== deployed) {
        this._models.set(id, { ...model, deployed });
      }
    }
  }

  private _workers = new Map<number, IWorker>();
  private _jobs = new Map<number, IJob>();
  private _models = new Map<string, IModel>();
  private _deployment: IDeployment | null = null;
  private _history: IDeployment[] = [];
  private _streams = new Map<number, JobStream>();
  private _selectedJobId: number | null = null;
  private _generation = 0;
  private _error: string | null = null;
  private _loaded = false;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}

/**
 * Merge a newer view of a job into the one held: trials are kept when the newer view has
 * none, and a job that reached a final state never goes back on a REST answer (a late answer
 * cannot revive it). `live` views (events, which arrive in order, and the answer of a retry)
 * may revive it: a retry puts a failed or finished job's failed trials back to pending.
 */
export function mergeJob(old: IJob, incoming: IJob, live = false): IJob {
  if (
    !live &&
    FINAL_JOB_STATES.includes(old.status) &&
    !FINAL_JOB_STATES.includes(incoming.status)
  ) {
    return incoming.trials && !old.trials
      ? { ...old, trials: incoming.trials }
      : old;
  }
  if (!incoming.trials && old.trials) {
    return { ...incoming, trials: old.trials };
  }
  return incoming;
}
