/** The compare view's live state: REST reads, merged job deltas and metrics, reconnects. */
import { MLOpsError } from '../service';
import { CompareApi, CompareStore, SEARCH_DELAY_MS } from '../compare/store';
import type { IJob, IMetricPoint, ISearchSummary } from '../types';
import { mp, searchTrials, summary } from './compare-fixtures';
import { FakeEvents, job, settle } from './fixtures';

/** A fake hub for one search job (7) with paged metrics. */
class FakeCompareApi implements CompareApi {
  job: IJob = job(7, 'running', { trials: searchTrials(), trial_count: 4 });
  points: IMetricPoint[] = [
    mp(1, '7-0', 'loss', 1, 2.0),
    mp(2, '7-0', 'loss', 2, 1.5)
  ];
  search: ISearchSummary | null = summary();
  metricCalls: number[] = [];
  pageSize = 1;

  getJob = jest.fn(async () => ({
    ...this.job,
    trials: [...(this.job.trials ?? [])]
  }));
  getMetrics = jest.fn(async (jobId: number, after = 0) => {
    this.metricCalls.push(after);
    const points = this.points
      .filter(p => p.seq > after)
      .slice(0, this.pageSize);
    return {
      job_id: jobId,
      points,
      last_seq: points.length ? points[points.length - 1].seq : after
    };
  });
  getSearch = jest.fn(async () => {
    if (!this.search) {
      throw new MLOpsError(404, 'not found');
    }
    return this.search;
  });
}

describe('CompareStore', () => {
  let api: FakeCompareApi;
  let events: FakeEvents;
  let store: CompareStore;

  beforeEach(async () => {
    api = new FakeCompareApi();
    events = new FakeEvents();
    store = new CompareStore(7, api, events);
    await settle();
  });

  afterEach(() => store.dispose());

  it('reads the job, every metric page and the search summary when made', () => {
    expect(store.loaded).toBe(true);
    expect(store.trials.map(t => t.id)).toEqual(['7-0', '7-1', '7-2', '7-3']);
    expect(store.job!.trials).toBeUndefined();
    expect(store.points.map(p => p.seq)).toEqual([1, 2]);
    expect(api.metricCalls).toEqual([0, 1, 2]);
    expect(store.search).toEqual(summary());
    expect(store.error).toBeNull();
  });

  it('merges a job event carrying only the trials that changed', () => {
    const changed = {
      ...searchTrials()[3],
      status: 'pruned' as const,
      epoch: 2
    };
    events.send({ type: 'job', job: { ...api.job, trials: [changed] } });
    expect(store.trials).toHaveLength(4);
    expect(store.trials[3]).toMatchObject({
      id: '7-3',
      status: 'pruned',
      epoch: 2
    });
    expect(store.trials[0].status).toBe('finished');
    // A job event without trials keeps them.
    events.send({ type: 'job', job: job(7, 'running', { trials_done: 3 }) });
    expect(store.trials).toHaveLength(4);
    expect(store.job!.trials_done).toBe(3);
  });

  it('adds live metric points of its job only, without duplicates', () => {
    let changes = 0;
    store.changed.connect(() => changes++);
    events.send({
      type: 'metric',
      job_id: 7,
      points: [mp(3, '7-1', 'loss', 1, 1.0)]
    });
    events.send({
      type: 'metric',
      job_id: 7,
      points: [mp(3, '7-1', 'loss', 1, 1.0)]
    });
    events.send({
      type: 'metric',
      job_id: 8,
      points: [{ ...mp(9, '8-0', 'loss', 1, 1), job_id: 8 }]
    });
    events.send({ type: 'job', job: job(8, 'running') });
    expect(store.points.map(p => p.seq)).toEqual([1, 2, 3]);
    expect(changes).toBe(1);
  });

  it('re-reads over REST after a reconnect, from the last page read', async () => {
    // Missed while disconnected: a trial ended and points were reported.
    api.job = {
      ...api.job,
      trials: api.job.trials!.map(t =>
        t.id === '7-3' ? { ...t, status: 'finished' as const } : t
      )
    };
    api.points.push(mp(3, '7-3', 'loss', 1, 0.9), mp(4, '7-3', 'loss', 2, 0.8));
    api.metricCalls = [];
    events.setState('reconnecting');
    events.setState('open');
    await settle();
    expect(api.metricCalls).toEqual([2, 3, 4]);
    expect(store.points.map(p => p.seq)).toEqual([1, 2, 3, 4]);
    expect(store.trials[3].status).toBe('finished');
    expect(api.getSearch).toHaveBeenCalledTimes(2);
  });

  it('does not move the REST cursor over live points (no gap after a reconnect)', async () => {
    api.points.push(mp(3, '7-0', 'loss', 3, 1.2));
    events.send({
      type: 'metric',
      job_id: 7,
      points: [mp(4, '7-0', 'loss', 4, 1.1)]
    });
    api.points.push(mp(4, '7-0', 'loss', 4, 1.1));
    api.metricCalls = [];
    events.setState('open');
    await settle();
    expect(api.metricCalls[0]).toBe(2);
    expect(store.points.map(p => p.seq)).toEqual([1, 2, 3, 4]);
  });

  it('keeps a trial that events showed ending when a late REST answer says running', async () => {
    const ended = { ...searchTrials()[3], status: 'finished' as const };
    events.send({ type: 'job', job: { ...api.job, trials: [ended] } });
    await store.refresh();
    expect(store.trials[3].status).toBe('finished');
  });

  it('re-reads the search summary once after a burst of ended trials', async () => {
    jest.useFakeTimers();
    try {
      api.getSearch.mockClear();
      const [a, b] = [searchTrials()[3], searchTrials()[2]];
      events.send({
        type: 'job',
        job: { ...api.job, trials: [{ ...a, status: 'finished' }] }
      });
      events.send({
        type: 'job',
        job: { ...api.job, trials: [{ ...b, status: 'pruned' }] }
      });
      events.send({
        type: 'job',
        job: { ...api.job, trials: [{ ...a, epoch: 4 }] }
      });
      expect(api.getSearch).not.toHaveBeenCalled();
      jest.advanceTimersByTime(SEARCH_DELAY_MS);
      expect(api.getSearch).toHaveBeenCalledTimes(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('works without a search summary (an older hub answers 404)', async () => {
    api.search = null;
    const warn = jest
      .spyOn(console, 'warn')
      .mockImplementation(() => undefined);
    const other = new CompareStore(7, api, events);
    await settle();
    expect(other.search).toBeNull();
    expect(other.error).toBeNull();
    expect(other.trials).toHaveLength(4);
    other.dispose();
    expect(warn).toHaveBeenCalled();
    warn.mockRestore();
  });

  it('reports a failed read of the job', async () => {
    api.getJob.mockRejectedValueOnce(new MLOpsError(404, 'job 7 not found'));
    await store.refresh();
    expect(store.error).toContain('job 7 not found');
    await store.refresh();
    expect(store.error).toBeNull();
  });

  it('stops following events once disposed', () => {
    store.dispose();
    events.send({
      type: 'metric',
      job_id: 7,
      points: [mp(5, '7-0', 'loss', 5, 1)]
    });
    expect(store.points).toHaveLength(2);
  });
});
