/** Unit tests of Selection: which job is shown, and when that changes by itself. */
import { Selection } from '../state/selection';
import { IJob } from '../types';
import { job } from './fixtures';

describe('Selection', () => {
  let jobs: Map<number, IJob>;
  let selected: number[];
  let selection: Selection;

  beforeEach(() => {
    jobs = new Map([1, 2].map(id => [id, job(id)]));
    selected = [];
    selection = new Selection({
      job: id => jobs.get(id),
      onSelect: id => selected.push(id)
    });
  });

  it('selects a job once, and reports each change', () => {
    expect(selection.select(1)).toBe(true);
    expect(selection.select(1)).toBe(false);
    expect(selection.job).toBe(jobs.get(1));
    expect(selection.select(null)).toBe(true);
    expect(selection.job).toBeUndefined();
    expect(selected).toEqual([1]);
  });

  it('selects the newest job only when none is selected', () => {
    expect(selection.selectNewestIfNone([])).toBe(false);
    expect(selection.selectNewestIfNone([jobs.get(2)!, jobs.get(1)!])).toBe(
      true
    );
    expect(selection.jobId).toBe(2);
    expect(selection.selectNewestIfNone([jobs.get(1)!])).toBe(false);
    expect(selection.jobId).toBe(2);
  });

  it('follows a new job unless the shown one is still active', () => {
    expect(selection.offerNewJob(1)).toBe(true);
    jobs.set(3, job(3, 'queued'));
    expect(selection.offerNewJob(3)).toBe(false);
    expect(selection.jobId).toBe(1);
    jobs.set(1, job(1, 'cancelled'));
    expect(selection.offerNewJob(3)).toBe(true);
    expect(selected).toEqual([1, 3]);
  });
});
