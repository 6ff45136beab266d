/**
 * JupyterLab `Notification` toasts: failed actions (an error is no question to the user, so
 * no modal dialog) and the live notices of `state/notices`.
 */
import { Notification } from '@jupyterlab/apputils';

import { trans } from './i18n';
import { Notice, noticeText } from './state/notices';

/** A failed action, e.g. "Deploy failed: model 3-1 is damaged". */
export function notifyError(title: string, error: unknown): void {
  const detail = error instanceof Error ? error.message : String(error);
  Notification.error(detail ? `${title}: ${detail}` : title, {
    autoClose: false
  });
}

/** A live notice as a toast; failures stay until dismissed, the others fade. */
export function showNotice(notice: Notice): void {
  const { type, message } = noticeText(notice, trans);
  Notification.emit(message, type, {
    autoClose: type === 'error' ? false : 8000
  });
}
