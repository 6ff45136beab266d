/** Unit tests of MLOpsModel: REST refresh on (re)connect, live events, exact log catch-up. */
import { Signal } from '@lumino/signaling';

import { MLOpsApi, MLOpsModel, mergeJob } from '../model';
import {
  ConnectionState,
  EventMessage,
  IDeployment,
  IJob,
  ILogLine,
  IMetricPoint,
  IModel,
  IWorker
} from '../types';

/** A fake events socket driven by the test. */
class FakeEvents {
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

function line(seq: number, jobId = 1): ILogLine {
  return {
    seq,
    job_id: jobId,
    trial_id: `${jobId}-0`,
    time: '2026-01-01T00:00:00Z',
    stream: 'stdout',
    text: `line ${seq}`
  };
}

function point(
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

function job(
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
    ...extra
  };
}

function model(id: string, extra: Partial<IModel> = {}): IModel {
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
    ...extra
  };
}

function deployment(
  id: number,
  modelId: string,
  reason: 'auto' | 'manual'
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
    model: null
  };
}

const worker: IWorker = {
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
class FakeApi implements MLOpsApi {
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
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await Promise.resolve();
  }
}

function seqs(m: MLOpsModel, jobId = 1): number[] {
  return m.logs(jobId).map(l => l.seq);
}

describe('MLOpsModel', () => {
  let api: FakeApi;
  let events: FakeEvents;
  let m: MLOpsModel;

  beforeEach(() => {
    api = new FakeApi();
    events = new FakeEvents();
    m = new MLOpsModel(api, events);
  });

  afterEach(() => {
    m.dispose();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('reads everything over REST when the socket opens, and selects the newest job', async () => {
    api.jobs = [job(2), job(1, 'finished')];
    api.logLines = [line(1, 2), line(2, 2)];
    api.models = [model('1-0'), model('1-1')];
    api.deployment = deployment(1, '1-1', 'auto');
    api.history = [api.deployment];
    expect(api.listWorkers).not.toHaveBeenCalled();
    events.setState('open');
    await settle();
    expect(m.loaded).toBe(true);
    expect(m.workers.map(w => w.name)).toEqual(['w']);
    expect(m.jobs.map(j => j.id)).toEqual([2, 1]);
    expect(m.selectedJobId).toBe(2);
    expect(seqs(m, 2)).toEqual([1, 2]);
    expect(m.modelGroups).toEqual([{ job_id: 1, models: expect.any(Array) }]);
    expect(m.models.find(x => x.id === '1-1')!.deployed).toBe(true);
    expect(m.models.find(x => x.id === '1-0')!.deployed).toBe(false);
  });

  it('pages through the log history, then follows live lines without duplicates', async () => {
    api.logLines = [1, 2, 3, 4, 5, 6, 7].map(s => line(s));
    events.setState('open');
    await settle();
    expect(seqs(m)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(api.logCalls.map(c => c.after)).toEqual([0, 3, 6, 7]);
    events.send({ type: 'log', job_id: 1, lines: [line(7), line(8)] });
    events.send({ type: 'log', job_id: 1, lines: [line(8), line(9)] });
    expect(seqs(m)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('merges live lines that arrive while the catch-up is in flight', async () => {
    api.logLines = [1, 2, 3, 4].map(s => line(s));
    let release!: () => void;
    api.gate = new Promise(resolve => (release = resolve));
    events.setState('open');
    await settle();
    // The hub stores 5 and 6 after answering... and they also arrive live.
    events.send({ type: 'log', job_id: 1, lines: [line(5)] });
    api.logLines.push(line(5), line(6));
    events.send({ type: 'log', job_id: 1, lines: [line(6)] });
    release();
    api.gate = null;
    await settle();
    expect(seqs(m)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('catches up from its cursor after a reconnect: no gap, no duplicate', async () => {
    api.logLines = [1, 2, 3].map(s => line(s));
    events.setState('open');
    await settle();
    events.send({ type: 'log', job_id: 1, lines: [line(4)] });
    api.logLines.push(line(4));
    events.setState('reconnecting');
    // Lines written while the browser was disconnected.
    api.logLines.push(line(5), line(6), line(7));
    api.logCalls = [];
    events.setState('open');
    await settle();
    expect(api.logCalls[0].after).toBe(4);
    events.send({ type: 'log', job_id: 1, lines: [line(7), line(8)] });
    expect(seqs(m)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('keeps its cursor when a catch-up fails, so the next reconnect fills the gap', async () => {
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    jest.useFakeTimers();
    api.logLines = [1, 2].map(s => line(s));
    events.setState('open');
    await settle();
    events.setState('reconnecting');
    api.logLines.push(line(3), line(4));
    api.failLogs = true;
    events.setState('open');
    await settle();
    // Live lines after the failed catch-up must not move the cursor past the gap.
    events.send({ type: 'log', job_id: 1, lines: [line(5)] });
    api.logLines.push(line(5));
    expect(seqs(m)).toEqual([1, 2, 5]);
    events.setState('reconnecting');
    api.failLogs = false;
    api.logCalls = [];
    events.setState('open');
    await settle();
    expect(api.logCalls[0].after).toBe(2);
    expect(seqs(m)).toEqual([1, 2, 3, 4, 5]);
  });

  it('retries a failed catch-up while the connection stays open', async () => {
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    jest.useFakeTimers();
    api.logLines = [1, 2, 3].map(s => line(s));
    api.failLogs = true;
    events.setState('open');
    await settle();
    expect(seqs(m)).toEqual([]);
    api.failLogs = false;
    jest.advanceTimersByTime(2000);
    await settle();
    expect(seqs(m)).toEqual([1, 2, 3]);
  });

  it('ignores log events of jobs nobody watches', async () => {
    events.setState('open');
    await settle();
    events.send({ type: 'log', job_id: 42, lines: [line(1, 42)] });
    expect(m.logs(42)).toEqual([]);
  });

  it('collects metric points per job', async () => {
    api.points = [point(1, 0, 2.3), point(2, 1, 2.1)];
    events.setState('open');
    await settle();
    events.send({
      type: 'metric',
      job_id: 1,
      points: [point(2, 1, 2.1), point(3, 2, 1.9)]
    });
    expect(m.metrics(1).map(p => p.value)).toEqual([2.3, 2.1, 1.9]);
  });

  it('applies worker, job, model and deployment events', async () => {
    api.models = [model('1-0'), model('1-1')];
    events.setState('open');
    await settle();
    let changes = 0;
    m.changed.connect(() => changes++);

    events.send({
      type: 'worker',
      worker: { ...worker, online: false, status: 'offline' }
    });
    expect(m.workers[0].online).toBe(false);

    // A job finishing selects nothing new; a new job is selected once the old one is final.
    events.send({
      type: 'job',
      job: job(1, 'finished', { trials_done: 2, progress: 1 })
    });
    events.send({ type: 'job', job: job(3, 'queued') });
    expect(m.selectedJobId).toBe(3);

    events.send({
      type: 'deployment',
      deployment: deployment(5, '1-0', 'auto')
    });
    expect(m.deployment!.model_id).toBe('1-0');
    expect(m.models.filter(x => x.deployed).map(x => x.id)).toEqual(['1-0']);
    events.send({
      type: 'deployment',
      deployment: deployment(6, '1-1', 'manual')
    });
    expect(m.models.filter(x => x.deployed).map(x => x.id)).toEqual(['1-1']);
    expect(m.history.map(d => d.id)).toEqual([6, 5]);

    events.send({ type: 'model', action: 'stored', model: model('3-0') });
    expect(m.modelGroups.map(g => g.job_id)).toEqual([3, 1]);
    events.send({ type: 'model', action: 'cleared', model: null });
    expect(m.models).toEqual([]);
    expect(m.deployment).toBeNull();
    expect(m.history).toEqual([]);
    expect(changes).toBeGreaterThanOrEqual(8);
  });

  it('launches, cancels, deploys and clears through the API', async () => {
    api.models = [model('1-0')];
    events.setState('open');
    await settle();
    const launched = await m.launch({ A: [1, 2] }, 'w');
    expect(api.launchJob).toHaveBeenCalledWith({ A: [1, 2] }, 'w');
    expect(launched.status).toBe('queued');
    expect(m.selectedJobId).toBe(2);
    await m.cancel(2);
    expect(m.job(2)!.status).toBe('cancelled');
    events.send({ type: 'job', job: job(1, 'failed') });
    await m.retry(1);
    expect(api.retryJob).toHaveBeenCalledWith(1);
    expect(m.job(1)!.status).toBe('queued'); // the retry's answer revives the failed job
    await m.deploy('1-0');
    expect(m.deployment!.reason).toBe('manual');
    expect(m.models[0].deployed).toBe(true);
    await m.clearStore();
    expect(m.models).toEqual([]);
  });

  it('records a refresh error', async () => {
    api.listWorkers.mockRejectedValueOnce(new Error('403 Forbidden'));
    events.setState('open');
    await settle();
    expect(m.error).toMatch(/403 Forbidden/);
  });
});

describe('mergeJob', () => {
  it('keeps trials when the update has none', () => {
    const old = job(1, 'running', { trials: [] });
    expect(mergeJob(old, job(1, 'running', { trials_done: 1 }))).toMatchObject({
      trials_done: 1,
      trials: []
    });
  });

  it('never moves a finished job back to running on a REST answer', () => {
    const merged = mergeJob(job(1, 'finished'), job(1, 'running'));
    expect(merged.status).toBe('finished');
  });

  it('lets a live view (event, retry answer) revive a final job', () => {
    const merged = mergeJob(job(1, 'failed'), job(1, 'queued'), true);
    expect(merged.status).toBe('queued');
  });
});
