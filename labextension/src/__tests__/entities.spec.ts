/** Unit tests of EntityStore: REST snapshots, live events and the merge of job views. */
import { EntityStore, mergeJob, mergeTrials } from '../state/entities';
import type { IJob } from '../types';
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

describe('job events carry only the trials that changed', () => {
  it('merges them by id into the trials held, in grid order', () => {
    const store = new EntityStore();
    store.upsertJob(
      job(1, 'running', {
        trial_count: 3,
        trials: [trial(1, 0), trial(1, 1), trial(1, 2)]
      })
    );
    store.applyEvent({
      type: 'job',
      job: job(1, 'running', {
        trial_count: 3,
        trials: [trial(1, 1, { status: 'running', epoch: 2, epochs: 5 })]
      })
    });
    const trials = store.job(1)!.trials!;
    expect(trials.map(t => [t.id, t.status])).toEqual([
      ['1-0', 'pending'],
      ['1-1', 'running'],
      ['1-2', 'pending']
    ]);
    expect(trials[1].epoch).toBe(2);
    // a job event with no trial changed (a job ended) keeps every trial held
    store.applyEvent({
      type: 'job',
      job: job(1, 'finished', { trial_count: 3, trials: [] })
    });
    expect(store.job(1)).toMatchObject({ status: 'finished' });
    expect(store.job(1)!.trials).toHaveLength(3);
  });

  it('does not take a part of the trials for all of them', () => {
    const store = new EntityStore();
    store.upsertJob(job(2, 'queued', { trial_count: 3 })); // from the job list: no trials
    store.applyEvent({
      type: 'job',
      job: job(2, 'running', { trial_count: 3, trials: [trial(2, 0)] })
    });
    expect(store.job(2)!.trials).toBeUndefined(); // read with GET /jobs/2 when shown
    store.applyEvent({
      type: 'job',
      job: job(3, 'queued', { trial_count: 1, trials: [trial(3, 0)] })
    });
    expect(store.job(3)!.trials).toHaveLength(1); // a new job's first event holds them all
    store.upsertJob(
      job(2, 'running', {
        trial_count: 3,
        trials: [trial(2, 0), trial(2, 1), trial(2, 2)]
      })
    );
    expect(store.job(2)!.trials).toHaveLength(3);
  });

  it('keeps the conf, which events leave out', () => {
    const store = new EntityStore();
    store.upsertJob(
      job(4, 'running', { conf: { LR: [0.1, 0.2] }, trials: [] })
    );
    const event: Partial<IJob> = job(4, 'finished', { trials: [] });
    delete event.conf;
    store.applyEvent({ type: 'job', job: event as IJob });
    expect(store.job(4)).toMatchObject({
      status: 'finished',
      conf: { LR: [0.1, 0.2] }
    });
  });

  it('mergeTrials adds a trial it did not hold and keeps grid order', () => {
    const merged = mergeTrials(
      [trial(1, 0), trial(1, 2)],
      [trial(1, 1, { status: 'running' })]
    );
    expect(merged.map(t => t.id)).toEqual(['1-0', '1-1', '1-2']);
  });
});
