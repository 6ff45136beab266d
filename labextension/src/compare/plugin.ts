import { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { mlopsIcon } from '../icon';
import type { IEventSource } from '../model';
import { CompareWidget } from './CompareWidget';
import { COMPARE_COMMAND, setCompareRunner } from './open';
import { CompareApi, CompareStore } from './store';

/** What the compare tabs need from the extension's plugin. */
export interface ICompareOptions {
  api: CompareApi;
  events: IEventSource;
  /** JupyterLab's renderers; without a Vega-Lite one the tab shows the table only. */
  rendermime: IRenderMimeRegistry | null;
  restorer: ILayoutRestorer | null;
}

/** Namespace of the compare tabs in the layout restorer's state. */
const NAMESPACE = 'mlops-compare';

/** The job id of a command's arguments, or null. */
function jobIdOf(args: { [key: string]: unknown }): number | null {
  const jobId = Number(args.jobId);
  return Number.isInteger(jobId) && jobId > 0 ? jobId : null;
}

/**
 * Register the `mlops:compare-job` command (`{ jobId }`): it opens the job's compare tab in
 * the main area, or shows the one already open. The tabs are restored with the layout.
 */
export function registerCompare(
  app: JupyterFrontEnd,
  options: ICompareOptions
): void {
  const tracker = new WidgetTracker<MainAreaWidget<CompareWidget>>({
    namespace: NAMESPACE
  });

  app.commands.addCommand(COMPARE_COMMAND, {
    label: args => {
      const jobId = jobIdOf(args);
      return jobId === null
        ? 'Compare trials'
        : `Compare the trials of job #${jobId}`;
    },
    caption: 'Open a tab comparing the trials of a job',
    icon: mlopsIcon,
    isEnabled: args => jobIdOf(args) !== null,
    execute: async args => {
      const jobId = jobIdOf(args);
      if (jobId === null) {
        throw new Error(
          `${COMPARE_COMMAND} needs a job id, got ${String(args.jobId)}`
        );
      }
      const open = tracker.find(widget => widget.content.jobId === jobId);
      if (open) {
        app.shell.activateById(open.id);
        return open;
      }
      const store = new CompareStore(jobId, options.api, options.events);
      const content = new CompareWidget(store, options.rendermime);
      const widget = new MainAreaWidget({ content });
      widget.id = `jp-mlops-compare-${jobId}`;
      widget.title.label = `Job #${jobId} trials`;
      widget.title.caption = `Trials of job #${jobId}: curves, hyperparameters and the best trial`;
      widget.title.icon = mlopsIcon;
      widget.title.closable = true;
      widget.addClass('jp-mlops-compare-tab');
      await tracker.add(widget);
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
      return widget;
    }
  });

  void options.restorer?.restore(tracker, {
    command: COMPARE_COMMAND,
    args: widget => ({ jobId: widget.content.jobId }),
    name: widget => String(widget.content.jobId)
  });

  setCompareRunner(app.commands);
}
