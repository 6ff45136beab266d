/**
 * The jupyter-mlops JupyterLab extension: registers the MLOps side panel and its command.
 *
 * Stable selectors for browser tests are listed in labextension/README.md.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { registerCompare } from './compare/plugin';
import { MLOpsPanel } from './components/Panel';
import { EventsClient } from './events';
import { mlopsIcon } from './icon';
import { MLOpsModel } from './model';
import { MLOpsService } from './service';

/** Id of the panel widget (and its tab in the left sidebar). */
export const PANEL_ID = 'jp-mlops-panel';

/** Command ids. */
export namespace CommandIDs {
  export const open = 'jupyter-mlops:open';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mlops:plugin',
  description:
    'MLOps side panel: workers, grid launcher, live jobs, models and deployment.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer, IRenderMimeRegistry],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    rendermime: IRenderMimeRegistry | null
  ) => {
    const service = new MLOpsService();
    const events = new EventsClient({ url: service.eventsUrl() });
    const model = new MLOpsModel(service, events);
    const panel = new MLOpsPanel({ model, service, events });
    panel.id = PANEL_ID;
    panel.title.icon = mlopsIcon;
    panel.title.caption = 'MLOps: workers, jobs and models';
    panel.disposed.connect(() => {
      events.dispose();
      model.dispose();
    });

    app.commands.addCommand(CommandIDs.open, {
      label: 'MLOps: open panel',
      icon: mlopsIcon,
      execute: () => app.shell.activateById(PANEL_ID)
    });
    palette?.addItem({ command: CommandIDs.open, category: 'MLOps' });
    // `mlops:compare-job` ({ jobId }): a main-area tab comparing a job's trials.
    registerCompare(app, { api: service, events, rendermime, restorer });

    app.shell.add(panel, 'left', { rank: 600 });
    restorer?.add(panel, PANEL_ID);
    events.connect();
    // Show the panel only once the saved layout is restored, or restoring hides it again.
    void app.restored.then(() => app.shell.activateById(PANEL_ID));
  }
};

export default plugin;
