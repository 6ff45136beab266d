/** Unit tests of EntityStore: REST snapshots, live events and the merge of job views. */
import { EntityStore, mergeJob } from '../state/entities';
import { deployment, job, model, trial, worker } from './fixtures';

describe('EntityStore', () => {
  let store: EntityStore;

  beforeEach(() => {
    store = new EntityStore();
  });

  it('replaces everything with a snapshot and marks the deployed model', () => {
    store.applySnapshot({
      workers: [worker, { ...worker, id: 2, name: 'a', online: false }],
      jobs: [job(1, 'finished'), job(2)],
      models: [model('1-1'), model('1-0'), model('2-0')],
      deployment: deployment(1, '1-1', 'auto'),
      history: [deployment(1, '1-1', 'auto')]
    });
    expect(store.workers.map(w => w.name)).toEqual(['w', 'a']);
    expect(store.jobs.map(j => j.id)).toEqual([2, 1]);
    expect(
      store.modelGroups.map(g => [g.job_id, g.models.map(m => m.id)])
    ).toEqual([
      [2, ['2-0']],
      [1, ['1-0', '1-1']]
    ]);
    expect(store.models.filter(m => m.deployed).map(m => m.id)).toEqual([
      '1-1'
    ]);
  });

  it('keeps a final job on a late snapshot, with its trials', () => {
    store.upsertJob(job(1, 'finished', { trials: [trial(1, 0)] }), true);
    store.applySnapshot({
      workers: [],
      jobs: [job(1, 'running')],
      models: [],
      deployment: null,
      history: []
    });
    expect(store.job(1)).toMatchObject({ status: 'finished', trials: [{}] });
  });

  it("takes the server's workers and retryable with each job view", () => {
    store.upsertJob(job(1, 'running', { workers: ['w1'], trials: [] }));
    store.applyEvent({
      type: 'job',
      job: job(1, 'failed', { workers: ['w1', 'w2'], retryable: true })
    });
    expect(store.job(1)).toMatchObject({
      workers: ['w1', 'w2'],
      retryable: true,
      trials: []
    });
    store.upsertJob(job(1, 'queued', { workers: ['w1', 'w2'] }), true);
    expect(store.job(1)!.retryable).toBe(false);
  });

  it('applies entity events and leaves the others', () => {
    store.applyEvent({ type: 'model', action: 'stored', model: model('1-0') });
    expect(store.applyEvent({ type: 'deployment', deployment: null })).toBe(
      true
    );
    expect(
      store.applyEvent({
        type: 'deployment',
        deployment: { ...deployment(3, '2-0', 'auto'), model: model('2-0') }
      })
    ).toBe(true);
    expect(store.models.map(m => [m.id, m.deployed])).toEqual([
      ['1-0', false],
      ['2-0', true]
    ]);
    expect(store.history.map(d => d.id)).toEqual([3]);
    expect(store.applyEvent({ type: 'log', job_id: 1, lines: [] })).toBe(false);
    expect(
      store.applyEvent({ type: 'model', action: 'cleared', model: null })
    ).toBe(true);
    expect([store.models, store.deployment, store.history]).toEqual([
      [],
      null,
      []
    ]);
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
