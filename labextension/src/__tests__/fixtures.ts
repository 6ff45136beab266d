/** Builders of API objects and fakes of the REST API and the events socket, for the specs. */
import { Signal } from '@lumino/signaling';

import type { MLOpsApi } from '../model';
import {
  ConnectionState,
  EventMessage,
  IDecision,
  IDeployment,
  IJob,
  ILogLine,
  IMetricPoint,
  IModel,
  ITrial,
  IWorker
} from '../types';

/** A fake events socket driven by the test. */
export class FakeEvents {
  message = new Signal<this, EventMessage>(this);
  stateChanged = new Signal<this, ConnectionState>(this);
  state: ConnectionState = 'connecting';
  setState(state: ConnectionState): void {
    this.state = state;
    this.stateChanged.emit(state);
  }
  send(message: EventMessage): void {
    this.message.emit(message);
  }
}

export function line(seq: number, jobId = 1): ILogLine {
  return {
    seq,
    job_id: jobId,
    trial_id: `${jobId}-0`,
    time: '2026-01-01T00:00:00Z',
    stream: 'stdout',
    text: `line ${seq}`
  };
}

export function point(
  seq: number,
  step: number,
  value: number,
  jobId = 1
): IMetricPoint {
  return {
    seq,
    job_id: jobId,
    trial_id: `${jobId}-0`,
    name: 'loss',
    step,
    value,
    time: '2026-01-01T00:00:00Z'
  };
}

export function job(
  id: number,
  status: IJob['status'] = 'running',
  extra: Partial<IJob> = {}
): IJob {
  return {
    id,
    worker: 'any',
    conf: {},
    status,
    error: null,
    created: '2026-01-01T00:00:00Z',
    started: null,
    finished: null,
    trial_count: 2,
    trials_done: 0,
    progress: 0,
    cancel_requested: false,
    workers: [],
    retryable: false,
    ...extra
  };
}

/** A never-leased pending trial of job `jobId`, with `extra` fields. */
export function trial(
  jobId: number,
  index: number,
  extra: Partial<ITrial> = {}
): ITrial {
  return {
    id: `${jobId}-${index}`,
    job_id: jobId,
    index,
    params: {},
    status: 'pending',
    worker_id: null,
    worker_name: null,
    attempt: 0,
    started: null,
    finished: null,
    error: null,
    model_id: null,
    epoch: null,
    epochs: null,
    batch: null,
    batches: null,
    metrics: {},
    checkpoint_epoch: null,
    resumed_from_epoch: null,
    ...extra
  };
}

export function model(id: string, extra: Partial<IModel> = {}): IModel {
  return {
    id,
    job_id: Number(id.split('-')[0]),
    trial_id: id,
    worker: 'w',
    sha1: `sha1-${id}`,
    sha256: `sha256-${id}`,
    size: 1000,
    param_count: 100,
    metrics: { test_accuracy: 0.5 },
    hyperparameters: {},
    classes: [],
    input_size: [3, 32, 32],
    normalization: {},
    program: 'program.pt2',
    created: '2026-01-01T00:00:00Z',
    deployed: false,
    decision: null,
    ...extra
  };
}

/** A deploy decision on `modelId`, as the hub records it (a paired test's numbers). */
export function decision(
  id: number,
  modelId: string,
  extra: Partial<IDecision> = {}
): IDecision {
  return {
    id,
    model_id: modelId,
    time: '2026-01-01T00:00:00Z',
    kind: 'auto',
    deployed: false,
    bypassed: false,
    gate: 'significant',
    reason:
      'not deployed: +1.7 points on the same 180 test examples, p = 0.3 (McNemar), could be chance',
    metric: 'test_accuracy',
    value: 0.9,
    champion_id: '1-0',
    champion_value: 0.883,
    n: 180,
    b: 9,
    c: 6,
    p_value: 0.304,
    test: 'mcnemar-exact',
    alpha: 0.05,
    ...extra
  };
}

export function deployment(
  id: number,
  modelId: string,
  reason: 'auto' | 'manual',
  extra: Partial<IDeployment> = {}
): IDeployment {
  return {
    id,
    model_id: modelId,
    sha1: `sha1-${modelId}`,
    sha256: `sha256-${modelId}`,
    time: '2026-01-01T00:00:00Z',
    reason,
    metric: 'test_accuracy',
    metric_value: 0.5,
    model: null,
    decision: null,
    ...extra
  };
}

export const worker: IWorker = {
  id: 1,
  name: 'w',
  notebook: 'train.ipynb',
  online: true,
  last_seen: '2026-01-01T00:00:00Z',
  defaults: { EPOCHS: 1 },
  device: 'cpu',
  versions: {},
  status: 'idle',
  current_job: null,
  current_trial: null
};

/** A fake REST API over an in-memory hub; `gate` holds log requests until released. */
export class FakeApi implements MLOpsApi {
  workers: IWorker[] = [worker];
  jobs: IJob[] = [job(1)];
  logLines: ILogLine[] = [];
  points: IMetricPoint[] = [];
  models: IModel[] = [];
  deployment: IDeployment | null = null;
  history: IDeployment[] = [];
  logCalls: { after: number; limit?: number }[] = [];
  pageSize = 3;
  gate: Promise<void> | null = null;
  failLogs = false;

  listWorkers = jest.fn(async () => this.workers);
  forgetWorker = jest.fn(async (id: number) => ({
    ...(this.workers.find(w => w.id === id) as IWorker),
    forgotten: true
  }));
  listJobs = jest.fn(async () => this.jobs);
  getJob = jest.fn(async (id: number) => ({
    ...this.jobs.find(j => j.id === id)!,
    trials: []
  }));
  launchJob = jest.fn(async () => job(2, 'queued'));
  cancelJob = jest.fn(async (id: number) => job(id, 'cancelled'));
  retryJob = jest.fn(async (id: number) => job(id, 'queued'));
  getLogs = jest.fn(async (jobId: number, after = 0, limit?: number) => {
    this.logCalls.push({ after, limit });
    if (this.gate) {
      await this.gate;
    }
    if (this.failLogs) {
      throw new Error('server down');
    }
    const lines = this.logLines
      .filter(l => l.job_id === jobId && l.seq > after)
      .slice(0, this.pageSize);
    return {
      job_id: jobId,
      lines,
      last_seq: lines.length ? lines[lines.length - 1].seq : after
    };
  });
  getMetrics = jest.fn(async (jobId: number, after = 0) => {
    const points = this.points.filter(p => p.job_id === jobId && p.seq > after);
    return {
      job_id: jobId,
      points,
      last_seq: points.length ? points[points.length - 1].seq : after
    };
  });
  listModels = jest.fn(async () => ({ models: this.models, groups: [] }));
  clearModels = jest.fn(async () => this.models.length);
  getDeployment = jest.fn(async () => this.deployment);
  deploy = jest.fn(async (modelId: string) => deployment(9, modelId, 'manual'));
  getDeploymentHistory = jest.fn(async () => this.history);
}

/** Let pending promises run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await Promise.resolve();
  }
}
