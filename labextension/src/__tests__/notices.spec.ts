/** Unit tests of the live notices (auto deploys, finished and failed jobs) and their texts. */
import { englishTrans, ITrans } from '../i18n';
import { MLOpsModel } from '../model';
import { Notice, noticeFor, noticeText } from '../state/notices';
import {
  FakeApi,
  FakeEvents,
  decision,
  deployment,
  job,
  settle
} from './fixtures';

describe('noticeFor', () => {
  it('announces an automatic deployment, not one by hand nor none', () => {
    const auto = deployment(2, '1-1', 'auto');
    expect(
      noticeFor({ type: 'deployment', deployment: auto }, undefined)
    ).toEqual({ kind: 'deployed', deployment: auto });
    const manual = deployment(3, '1-0', 'manual');
    expect(
      noticeFor({ type: 'deployment', deployment: manual }, undefined)
    ).toBeNull();
    expect(
      noticeFor({ type: 'deployment', deployment: null }, undefined)
    ).toBeNull();
  });

  it('announces a job when it moves from running to finished or failed', () => {
    const running = job(4, 'running');
    expect(
      noticeFor({ type: 'job', job: job(4, 'finished') }, running)
    ).toMatchObject({ kind: 'job-finished' });
    expect(
      noticeFor({ type: 'job', job: job(4, 'failed') }, job(4, 'queued'))
    ).toMatchObject({ kind: 'job-failed' });
    expect(
      noticeFor({ type: 'job', job: job(4, 'cancelled') }, running)
    ).toBeNull();
    expect(
      noticeFor({ type: 'job', job: job(4, 'running') }, running)
    ).toBeNull();
  });

  it('never announces a job seen final already, or unknown before', () => {
    const finished = job(4, 'finished');
    expect(noticeFor({ type: 'job', job: finished }, finished)).toBeNull();
    expect(noticeFor({ type: 'job', job: finished }, undefined)).toBeNull();
    expect(
      noticeFor({ type: 'log', job_id: 4, lines: [] }, undefined)
    ).toBeNull();
  });
});

describe('noticeText', () => {
  it('names the model, the sha1 prefix and the decision sentence of a deploy', () => {
    const d = deployment(2, '3-1', 'auto', {
      sha1: '0123456789abcdef',
      decision: decision(7, '3-1', {
        deployed: true,
        reason:
          'deployed: +4.0 points on the same 500 test examples, p < 0.0001 (McNemar), better beyond chance'
      })
    });
    expect(
      noticeText({ kind: 'deployed', deployment: d }, englishTrans)
    ).toEqual({
      type: 'success',
      message:
        'Model 3-1 deployed (sha1 01234567): +4.0 points on the same 500 test examples, p < 0.0001 (McNemar), better beyond chance'
    });
    const bare = deployment(2, '3-1', 'auto', { sha1: 'abcdef0123456789' });
    expect(
      noticeText({ kind: 'deployed', deployment: bare }, englishTrans).message
    ).toBe('Model 3-1 deployed (sha1 abcdef01)');
  });

  it('says how a job ended; a failure is an error with its reason', () => {
    const done: Notice = {
      kind: 'job-finished',
      job: job(5, 'finished', { trials_done: 2 })
    };
    expect(noticeText(done, englishTrans)).toEqual({
      type: 'success',
      message: 'Job #5 finished: 2 trials done'
    });
    const one: Notice = {
      kind: 'job-finished',
      job: job(5, 'finished', { trials_done: 1 })
    };
    expect(noticeText(one, englishTrans).message).toBe(
      'Job #5 finished: 1 trial done'
    );
    const failed: Notice = {
      kind: 'job-failed',
      job: job(6, 'failed', { error: 'every trial failed' })
    };
    expect(noticeText(failed, englishTrans)).toEqual({
      type: 'error',
      message: 'Job #6 failed: every trial failed'
    });
  });

  it('keeps a notice within what a toast shows', () => {
    const failed: Notice = {
      kind: 'job-failed',
      job: job(6, 'failed', { error: 'x'.repeat(500) })
    };
    const message = noticeText(failed, englishTrans).message;
    expect(message.length).toBe(140);
    expect(message.endsWith('…')).toBe(true);
  });

  it('goes through the translation bundle', () => {
    const upper: ITrans = {
      __: (msgid, ...args) => englishTrans.__(msgid.toUpperCase(), ...args),
      _n: (msgid, plural, n, ...args) =>
        englishTrans._n(msgid.toUpperCase(), plural.toUpperCase(), n, ...args)
    };
    const failed: Notice = { kind: 'job-failed', job: job(6, 'failed') };
    expect(noticeText(failed, upper).message).toBe('JOB #6 FAILED');
  });
});

describe('MLOpsModel notices', () => {
  it('emits a notice for live events only, once per job ending', async () => {
    const api = new FakeApi();
    const events = new FakeEvents();
    api.jobs = [job(1, 'finished'), job(2, 'running')];
    const m = new MLOpsModel(api, events);
    const notices: Notice[] = [];
    m.notice.connect((_, notice) => notices.push(notice));
    events.setState('open');
    await settle();
    expect(notices).toEqual([]); // what REST brings is no news
    events.send({ type: 'job', job: job(2, 'finished', { trials_done: 2 }) });
    events.send({ type: 'job', job: job(2, 'finished', { trials_done: 2 }) });
    events.send({ type: 'job', job: job(1, 'finished') });
    events.send({
      type: 'deployment',
      deployment: deployment(5, '2-1', 'auto')
    });
    expect(notices.map(n => n.kind)).toEqual(['job-finished', 'deployed']);
    m.dispose();
  });
});
