/** Unit tests of MLOpsModel: REST refresh on (re)connect, live events, exact log catch-up. */
import { MLOpsModel } from '../model';
import { EventMessage } from '../types';
import {
  FakeApi,
  FakeEvents,
  deployment,
  job,
  line,
  model,
  point,
  settle,
  worker
} from './fixtures';

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
    // every event is followed by a change notification
    const send = (message: EventMessage) => {
      const before = changes;
      events.send(message);
      expect(changes).toBeGreaterThan(before);
    };

    send({
      type: 'worker',
      worker: { ...worker, online: false, status: 'offline' }
    });
    expect(m.workers[0].online).toBe(false);

    // A job finishing selects nothing new; a new job is selected once the old one is final.
    send({
      type: 'job',
      job: job(1, 'finished', { trials_done: 2, progress: 1 })
    });
    send({ type: 'job', job: job(3, 'queued') });
    expect(m.selectedJobId).toBe(3);

    send({
      type: 'deployment',
      deployment: deployment(5, '1-0', 'auto')
    });
    expect(m.deployment!.model_id).toBe('1-0');
    expect(m.models.filter(x => x.deployed).map(x => x.id)).toEqual(['1-0']);
    send({
      type: 'deployment',
      deployment: deployment(6, '1-1', 'manual')
    });
    expect(m.models.filter(x => x.deployed).map(x => x.id)).toEqual(['1-1']);
    expect(m.history.map(d => d.id)).toEqual([6, 5]);

    send({ type: 'model', action: 'stored', model: model('3-0') });
    expect(m.modelGroups.map(g => g.job_id)).toEqual([3, 1]);
    send({ type: 'model', action: 'cleared', model: null });
    expect(m.models).toEqual([]);
    expect(m.deployment).toBeNull();
    expect(m.history).toEqual([]);
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
