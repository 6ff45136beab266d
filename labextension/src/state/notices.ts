/**
 * Which live events deserve a notification, and its text: a model deployed automatically, a
 * job that finished or failed. Pure: the plugin shows them as JupyterLab `Notification`s.
 */
import { shortHash } from '../format';
import { ITrans } from '../i18n';
import { EventMessage, FINAL_JOB_STATES, IDeployment, IJob } from '../types';

export type Notice =
  | { kind: 'deployed'; deployment: IDeployment }
  | { kind: 'job-finished'; job: IJob }
  | { kind: 'job-failed'; job: IJob };

/**
 * The notice a live event calls for, or null. `before` is the job as known before the event:
 * a job is announced when it moves from a running state to `finished` or `failed` (not when
 * it is first seen already final, nor again when it is re-sent final). A deployment is
 * announced when it is automatic; a deploy by hand is the user's own act.
 */
export function noticeFor(
  message: EventMessage,
  before: IJob | undefined
): Notice | null {
  if (message.type === 'deployment') {
    const deployment = message.deployment;
    return deployment && deployment.reason === 'auto'
      ? { kind: 'deployed', deployment }
      : null;
  }
  if (message.type !== 'job' || !before) {
    return null;
  }
  const job = message.job;
  if (FINAL_JOB_STATES.includes(before.status)) {
    return null;
  }
  if (job.status === 'finished') {
    return { kind: 'job-finished', job };
  }
  return job.status === 'failed' ? { kind: 'job-failed', job } : null;
}

/** How a notice is shown: its level and text. */
export interface INoticeText {
  type: 'success' | 'error' | 'info';
  message: string;
}

/** The longest text JupyterLab shows in a toast; longer ones are cut there. */
export const NOTICE_MAX_LENGTH = 140;

function cut(text: string): string {
  return text.length > NOTICE_MAX_LENGTH
    ? text.slice(0, NOTICE_MAX_LENGTH - 1) + '…'
    : text;
}

/** The notification for a notice, translated. */
export function noticeText(notice: Notice, trans: ITrans): INoticeText {
  switch (notice.kind) {
    case 'deployed': {
      const d = notice.deployment;
      const head = trans.__(
        'Model %1 deployed (sha1 %2)',
        d.model_id,
        shortHash(d.sha1, 8)
      );
      // the hub's sentence starts with "deployed: ", already said by the head
      const reason = (d.decision?.reason ?? '').replace(/^deployed:\s*/, '');
      return {
        type: 'success',
        message: cut(reason ? `${head}: ${reason}` : head)
      };
    }
    case 'job-finished': {
      const job = notice.job;
      return {
        type: 'success',
        message: cut(
          trans._n(
            'Job #%2 finished: %1 trial done',
            'Job #%2 finished: %1 trials done',
            job.trials_done,
            job.id
          )
        )
      };
    }
    case 'job-failed': {
      const job = notice.job;
      const head = trans.__('Job #%1 failed', job.id);
      return {
        type: 'error',
        message: cut(job.error ? `${head}: ${job.error}` : head)
      };
    }
  }
}
