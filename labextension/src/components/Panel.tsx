import { ReactWidget } from '@jupyterlab/ui-components';
import React from 'react';

import { EventsClient } from '../events';
import { trans } from '../i18n';
import { MLOpsModel } from '../model';
import { MLOpsService } from '../service';
import { ConnectionBanner } from './ConnectionBanner';
import { JobsView } from './JobsView';
import { LauncherView } from './LauncherView';
import { ModelsView } from './ModelsView';
import { RemoteWorkersView } from './RemoteWorkersView';
import { Section } from './Section';
import { useModel } from './useModel';
import { WorkersView } from './WorkersView';

/** Everything the panel shows and acts on. */
export interface IPanelOptions {
  model: MLOpsModel;
  service: MLOpsService;
  events: EventsClient;
}

/** The MLOps side panel: connection banner, workers, launcher, jobs, models. */
export class MLOpsPanel extends ReactWidget {
  constructor(readonly options: IPanelOptions) {
    super();
    this.addClass('jp-mlops-panel');
  }

  protected render(): JSX.Element {
    return <PanelView {...this.options} />;
  }
}

function PanelView(props: IPanelOptions): JSX.Element {
  const { model, service, events } = props;
  useModel(model);
  const workers = model.workers;
  const online = workers.filter(w => w.online).length;
  const active = model.jobs.filter(
    j => j.status === 'running' || j.status === 'queued'
  ).length;
  return (
    <div className="jp-mlops-root">
      <header className="jp-mlops-header">
        <span className="jp-mlops-header-title">MLOps</span>
        <span
          className={`jp-mlops-dot ${
            model.connection === 'open'
              ? 'jp-mlops-dot-online'
              : 'jp-mlops-dot-offline'
          }`}
          data-testid="mlops-connection"
          data-state={model.connection}
          title={trans.__('hub connection: %1', model.connection)}
        />
      </header>
      <ConnectionBanner
        state={model.connection}
        nextRetry={events.nextRetry}
        onRetry={() => events.reconnectNow()}
        onReload={() => window.location.reload()}
      />
      {model.error && (
        <div className="jp-mlops-banner jp-mlops-banner-error">
          {model.error}
        </div>
      )}
      <div className="jp-mlops-scroll">
        <Section
          title={trans.__('Workers')}
          badge={trans.__('%1 online / %2', online, workers.length)}
          testId="mlops-workers"
        >
          <WorkersView
            workers={workers}
            onForget={worker => model.forgetWorker(worker.id)}
          />
        </Section>
        <Section title={trans.__('Remote workers')} testId="mlops-remote">
          <RemoteWorkersView api={service} />
        </Section>
        <Section
          title={trans.__('Launch a grid search')}
          testId="mlops-launcher"
        >
          <LauncherView model={model} service={service} />
        </Section>
        <Section
          title={trans.__('Jobs')}
          badge={active ? trans.__('%1 active', active) : undefined}
          testId="mlops-jobs"
        >
          <JobsView model={model} />
        </Section>
        <Section
          title={trans.__('Models')}
          badge={`${model.models.length}`}
          testId="mlops-models"
        >
          <ModelsView model={model} fileUrl={id => service.modelFileUrl(id)} />
        </Section>
      </div>
    </div>
  );
}
