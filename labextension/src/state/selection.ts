import { FINAL_JOB_STATES, IJob } from '../types';

/** What the selection needs from its owner. */
export interface ISelectionOptions {
  /** Look a job up by id. */
  job: (jobId: number) => IJob | undefined;
  /** Called with each newly selected job (e.g. to start following its logs). */
  onSelect: (jobId: number) => void;
}

/**
 * Which job the panel shows in detail (trials, curves, log), and when that changes by
 * itself: the newest job once the jobs are known, and a new job while the shown one is over.
 */
export class Selection {
  constructor(private readonly _options: ISelectionOptions) {}

  /** The selected job's id, or null. */
  get jobId(): number | null {
    return this._jobId;
  }

  /** The selected job, or undefined (none selected, or not known yet). */
  get job(): IJob | undefined {
    return this._jobId === null ? undefined : this._options.job(this._jobId);
  }

  /** Select a job (null: none); returns whether the selection changed. */
  select(jobId: number | null): boolean {
    if (this._jobId === jobId) {
      return false;
    }
    this._jobId = jobId;
    if (jobId !== null) {
      this._options.onSelect(jobId);
    }
    return true;
  }

  /** The jobs were read (newest first): select the newest when nothing is selected. */
  selectNewestIfNone(jobs: ReadonlyArray<IJob>): boolean {
    return this._jobId === null && jobs.length > 0 && this.select(jobs[0].id);
  }

  /**
   * A job appeared (a live event): select it unless the selected job is still active, so a
   * job somebody just launched is shown without hiding the one the user is watching.
   */
  offerNewJob(jobId: number): boolean {
    const current = this.job;
    if (current && !FINAL_JOB_STATES.includes(current.status)) {
      return false;
    }
    return this.select(jobId);
  }

  private _jobId: number | null = null;
}
