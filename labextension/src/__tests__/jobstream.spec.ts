/** Unit tests of JobStreams: catch-up from cursors, merged with live events by seq. */
import { JobStreams } from '../state/jobstream';
import { IJob } from '../types';
import { FakeApi, line, point, settle } from './fixtures';

describe('JobStreams', () => {
  let api: FakeApi;
  let open: boolean;
  let jobs: IJob[];
  let changes: number;
  let streams: JobStreams;

  beforeEach(() => {
    api = new FakeApi();
    open = false;
    jobs = [];
    changes = 0;
    streams = new JobStreams({
      api,
      isOpen: () => open,
      onJob: job => jobs.push(job),
      onChange: () => changes++
    });
  });

  afterEach(() => {
    streams.dispose();
  });

  it('waits for the connection before catching a watched job up', async () => {
    api.logLines = [line(1), line(2)];
    api.points = [point(1, 0, 2.3)];
    streams.watch(1);
    await settle();
    expect(api.getLogs).not.toHaveBeenCalled();
    open = true;
    streams.reconnected();
    streams.catchUpAll();
    await settle();
    expect(jobs.map(j => j.id)).toEqual([1]);
    expect(streams.logs(1).map(l => l.seq)).toEqual([1, 2]);
    expect(streams.metrics(1).map(p => p.value)).toEqual([2.3]);
    expect(changes).toBeGreaterThan(0);
  });

  it('merges live events of watched jobs only, and bumps the version', async () => {
    open = true;
    streams.watch(1);
    await settle();
    const version = streams.version(1);
    expect(
      streams.applyEvent({ type: 'log', job_id: 1, lines: [line(3), line(3)] })
    ).toBe(true);
    expect(
      streams.applyEvent({ type: 'log', job_id: 2, lines: [line(1, 2)] })
    ).toBe(false);
    expect(streams.applyEvent({ type: 'deployment', deployment: null })).toBe(
      false
    );
    expect(streams.logs(1).map(l => l.seq)).toEqual([3]);
    expect(streams.logs(2)).toEqual([]);
    expect(streams.version(1)).not.toBe(version);
    expect(streams.version(2)).toBe(0);
  });

  it('catches up from the cursor on the next connection', async () => {
    open = true;
    api.logLines = [line(1), line(2)];
    streams.watch(1);
    await settle();
    streams.applyEvent({ type: 'log', job_id: 1, lines: [line(3)] });
    api.logLines.push(line(3), line(4));
    api.logCalls = [];
    streams.reconnected();
    streams.catchUpAll();
    await settle();
    expect(api.logCalls[0].after).toBe(3);
    expect(streams.logs(1).map(l => l.seq)).toEqual([1, 2, 3, 4]);
  });
});
