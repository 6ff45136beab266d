/**
 * Opening a job's compare tab from anywhere in the extension (the panel's job cards), without
 * passing the command registry down through the views.
 */

/** Command that opens (or shows) the compare tab of a job: `{ jobId: number }`. */
export const COMPARE_COMMAND = 'mlops:compare-job';

/** The part of Lumino's `CommandRegistry` used here. */
export interface ICommandRunner {
  execute(id: string, args?: any): Promise<any>;
}

let runner: ICommandRunner | null = null;

/** Set by the plugin once it registered `COMPARE_COMMAND`. */
export function setCompareRunner(commands: ICommandRunner | null): void {
  runner = commands;
}

/** Whether the compare tab can be opened (the command is registered). */
export function canCompare(): boolean {
  return runner !== null;
}

/** Open the compare tab of a job. */
export function openCompare(jobId: number): void {
  runner?.execute(COMPARE_COMMAND, { jobId }).catch(error => {
    console.warn(
      `jupyter-mlops: could not open the compare tab of job ${jobId}`,
      error
    );
  });
}
