import {
  EventMessage,
  FINAL_JOB_STATES,
  IDeployment,
  IJob,
  IModel,
  ITrial,
  IWorker
} from '../types';

/** Everything `EntityStore.applySnapshot` replaces: one REST read of the hub. */
export interface ISnapshot {
  workers: IWorker[];
  jobs: IJob[];
  models: IModel[];
  deployment: IDeployment | null;
  history: IDeployment[];
}

/** Models of one job, for the models view. */
export interface IModelGroupView {
  job_id: number;
  models: IModel[];
}

/**
 * The hub's entities as the panel knows them: workers, jobs, models, the deployment and its
 * history. Filled from REST snapshots, kept current by live events.
 */
export class EntityStore {
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

  /** Replace everything with a REST snapshot; jobs held are merged (see `mergeJob`). */
  applySnapshot(snapshot: ISnapshot): void {
    this._workers = new Map(snapshot.workers.map(w => [w.id, w]));
    const known = this._jobs;
    this._jobs = new Map();
    for (const job of snapshot.jobs) {
      const old = known.get(job.id);
      this._jobs.set(job.id, old ? mergeJob(old, job) : job);
    }
    this._models = new Map(snapshot.models.map(m => [m.id, m]));
    this._deployment = snapshot.deployment;
    this._history = snapshot.history;
    this._markDeployed();
  }

  /**
   * Apply a live `worker`, `job`, `model` or `deployment` event; returns false for the other
   * types (they are not entities).
   */
  applyEvent(message: EventMessage): boolean {
    switch (message.type) {
      case 'worker':
        if (message.worker.forgotten) {
          this._workers.delete(message.worker.id);
        } else {
          this._workers.set(message.worker.id, message.worker);
        }
        return true;
      case 'job':
        this.upsertJob(message.job, true);
        return true;
      case 'model':
        if (message.action === 'cleared') {
          this.clearModels();
        } else if (message.model) {
          this._models.set(message.model.id, message.model);
          this._markDeployed();
        }
        return true;
      case 'deployment':
        this.applyDeployment(message.deployment);
        return true;
      default:
        return false;
    }
  }

  /**
   * Add or update a job; `live`: a live view (an event, or the answer of a retry), whose
   * `trials` are only those that changed and which may revive a final job (see `mergeJob`).
   */
  upsertJob(job: IJob, live = false): void {
    const old = this._jobs.get(job.id);
    this._jobs.set(job.id, old ? mergeJob(old, job, live) : job); // new: all its trials
  }

  /** A new current deployment (or none): added to the history, its model marked. */
  applyDeployment(deployment: IDeployment | null): void {
    this._deployment = deployment;
    if (deployment && !this._history.some(d => d.id === deployment.id)) {
      this._history = [deployment, ...this._history].sort(
        (a, b) => b.id - a.id
      );
    }
    if (deployment?.model && !this._models.has(deployment.model_id)) {
      this._models.set(deployment.model_id, deployment.model);
    }
    // a deploy by hand records a newer decision on the model: it is the one to show
    const known = deployment
      ? this._models.get(deployment.model_id)
      : undefined;
    if (
      deployment?.decision &&
      known &&
      (known.decision?.id ?? -1) < deployment.decision.id
    ) {
      this._models.set(known.id, { ...known, decision: deployment.decision });
    }
    this._markDeployed();
  }

  /** Forget every model and deployment (the store was cleared). */
  clearModels(): void {
    this._models.clear();
    this._deployment = null;
    this._history = [];
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
}

/**
 * Merge a newer view of a job into the one held: trials are kept when the newer view has
 * none, and a job that reached a final state never goes back on a REST answer (a late answer
 * cannot revive it). `live` views (events, which arrive in order, and the answer of a retry)
 * may revive it: a retry puts a failed or finished job's failed trials back to pending. A
 * live view carries only the trials that changed, and no `conf`: the trials are merged by id
 * into those held (a job whose trials are not held yet keeps none until `GET /jobs/{id}`
 * reads them all).
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
  if (live) {
    return {
      ...old, // an event leaves out what never changes (the conf)
      ...incoming,
      trials: old.trials
        ? mergeTrials(old.trials, incoming.trials ?? [])
        : completeTrials(incoming)
    };
  }
  if (!incoming.trials && old.trials) {
    return { ...incoming, trials: old.trials };
  }
  return incoming;
}

/** The trials held with those that changed put in by id, in grid order. */
export function mergeTrials(held: ITrial[], changed: ITrial[]): ITrial[] {
  if (!changed.length) {
    return held;
  }
  const byId = new Map(changed.map(trial => [trial.id, trial]));
  const merged = held.map(trial => byId.get(trial.id) ?? trial);
  const known = new Set(held.map(trial => trial.id));
  const added = changed.filter(trial => !known.has(trial.id));
  return added.length
    ? [...merged, ...added].sort((a, b) => a.index - b.index)
    : merged;
}

/** A job view's trials when they are all of them, else undefined (not known yet). */
function completeTrials(job: IJob): ITrial[] | undefined {
  return job.trials && job.trials.length >= job.trial_count
    ? job.trials
    : undefined;
}
