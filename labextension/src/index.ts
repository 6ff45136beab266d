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
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator } from '@jupyterlab/translation';

import { registerCompare } from './compare/plugin';
import { MLOpsPanel } from './components/Panel';
import { EventsClient } from './events';
import { setTranslator, trans } from './i18n';
import { mlopsIcon } from './icon';
import { MLOpsModel } from './model';
import { showNotice } from './notify';
import { MLOpsService } from './service';

/** Id of the panel widget (and its tab in the left sidebar). */
export const PANEL_ID = 'jp-mlops-panel';

/** Id of the plugin, and of its settings (schema/plugin.json). */
export const PLUGIN_ID = 'jupyter-mlops:plugin';

/** Command ids. */
export namespace CommandIDs {
  export const open = 'jupyter-mlops:open';
}

/** The plugin's settings (schema/plugin.json), with their defaults. */
interface IPanelSettings {
  openOnStart: boolean;
  notifications: boolean;
}

const DEFAULT_SETTINGS: IPanelSettings = {
  openOnStart: false,
  notifications: true
};

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'MLOps side panel: workers, grid launcher, live jobs, models and deployment.',
  autoStart: true,
  optional: [
    ICommandPalette,
    ILayoutRestorer,
    IRenderMimeRegistry,
    ISettingRegistry,
    ITranslator
  ],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    rendermime: IRenderMimeRegistry | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null
  ) => {
    setTranslator(translator);
    const settings: IPanelSettings = { ...DEFAULT_SETTINGS };
    const service = new MLOpsService();
    const events = new EventsClient({ url: service.eventsUrl() });
    const model = new MLOpsModel(service, events);
    const panel = new MLOpsPanel({ model, service, events });
    panel.id = PANEL_ID;
    panel.title.icon = mlopsIcon;
    panel.title.caption = trans.__('MLOps: workers, jobs and models');
    model.notice.connect((_, notice) => {
      if (settings.notifications) {
        showNotice(notice);
      }
    });
    panel.disposed.connect(() => {
      events.dispose();
      model.dispose();
    });

    app.commands.addCommand(CommandIDs.open, {
      label: trans.__('MLOps: open panel'),
      icon: mlopsIcon,
      execute: () => app.shell.activateById(PANEL_ID)
    });
    palette?.addItem({
      command: CommandIDs.open,
      category: trans.__('MLOps')
    });
    // `mlops:compare-job` ({ jobId }): a main-area tab comparing a job's trials.
    registerCompare(app, { api: service, events, rendermime, restorer });

    app.shell.add(panel, 'left', { rank: 600 });
    // the saved layout says whether the panel is open (restored by name)
    restorer?.add(panel, PANEL_ID);
    events.connect();

    const loaded = settingRegistry
      ? settingRegistry
          .load(PLUGIN_ID)
          .then(loaded => {
            const read = () => {
              settings.openOnStart = loaded.get('openOnStart')
                .composite as boolean;
              settings.notifications = loaded.get('notifications')
                .composite as boolean;
            };
            read();
            loaded.changed.connect(read);
          })
          .catch(reason =>
            console.warn('jupyter-mlops: settings not loaded', reason)
          )
      : Promise.resolve();
    // Open the panel only when the settings ask for it, and only once the saved layout is
    // restored (else restoring hides it again); otherwise the saved layout decides.
    void Promise.all([app.restored, loaded]).then(() => {
      if (settings.openOnStart) {
        app.shell.activateById(PANEL_ID);
      }
      panel.node.dataset.openOnStart = String(settings.openOnStart);
    });
  }
};

export default plugin;
