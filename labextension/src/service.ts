import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  IDeployment,
  IGridValidation,
  IJob,
  ILogPage,
  IMetricPage,
  IModel,
  IIssuedToken,
  IModelList,
  ISearchSummary,
  IToken,
  IWorker,
  JSONObject,
  TokenScope
} from './types';

/** Path of the API below the server's base URL. */
export const API_PATH = 'mlops/api';

/** An error answer of the API: `{"error", "detail"}` with its HTTP status. */
export class MLOpsError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly detail: any = null
  ) {
    super(message);
    this.name = 'MLOpsError';
  }

  /** The problems listed in `detail.errors`, if any. */
  get problems(): { key: string | null; message: string }[] {
    const errors = this.detail && this.detail.errors;
    return Array.isArray(errors) ? errors : [];
  }
}

/**
 * Typed client of the REST API under `/mlops/api`: one method per resource and verb.
 *
 * Requests go through `ServerConnection.makeRequest`, so Jupyter's token, cookie and
 * xsrf handling apply.
 */
export class MLOpsService {
  constructor(
    readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  /** `GET /workers` */
  async listWorkers(): Promise<IWorker[]> {
    return (await this.request<{ workers: IWorker[] }>('workers')).workers;
  }

  /** `DELETE /workers/{id}`: forget an offline worker (an `MLOpsError` 409 while online). */
  forgetWorker(workerId: number): Promise<IWorker> {
    return this.request(`workers/${workerId}`, { method: 'DELETE' });
  }

  /** `GET /tokens`: scoped tokens, newest first (never their secrets). */
  async listTokens(): Promise<IToken[]> {
    return (await this.request<{ tokens: IToken[] }>('tokens')).tokens;
  }

  /** `POST /tokens`: issue a token; its secret is in this answer only. */
  createToken(
    name: string,
    scope: TokenScope = 'worker'
  ): Promise<IIssuedToken> {
    return this.request('tokens', {
      method: 'POST',
      body: JSON.stringify({ name, scope })
    });
  }

  /** `DELETE /tokens/{id}`: revoke; its workers' links close and their trials re-queue. */
  revokeToken(tokenId: number): Promise<IToken> {
    return this.request(`tokens/${tokenId}`, { method: 'DELETE' });
  }

  /** `POST /grid/validate` (answers 200 even when the conf is invalid). */
  validateGrid(conf: JSONObject, worker = 'any'): Promise<IGridValidation> {
    return this.request('grid/validate', {
      method: 'POST',
      body: JSON.stringify({ conf, worker })
    });
  }

  /** `GET /jobs`, newest first. */
  async listJobs(): Promise<IJob[]> {
    return (await this.request<{ jobs: IJob[] }>('jobs')).jobs;
  }

  /** `POST /jobs`: launch a grid search; throws an `MLOpsError` (400) for an invalid conf. */
  launchJob(conf: JSONObject, worker = 'any'): Promise<IJob> {
    return this.request('jobs', {
      method: 'POST',
      body: JSON.stringify({ conf, worker })
    });
  }

  /** `GET /jobs/{id}` with its trials. */
  getJob(jobId: number): Promise<IJob> {
    return this.request(`jobs/${jobId}`);
  }

  /** `POST /jobs/{id}/cancel` */
  cancelJob(jobId: number): Promise<IJob> {
    return this.request(`jobs/${jobId}/cancel`, { method: 'POST' });
  }

  /** `POST /jobs/{id}/retry`: the failed trials go back to pending; 409 when none failed. */
  retryJob(jobId: number): Promise<IJob> {
    return this.request(`jobs/${jobId}/retry`, { method: 'POST' });
  }

  /** `GET /jobs/{id}/logs?after=SEQ&limit=N` */
  getLogs(jobId: number, after = 0, limit?: number): Promise<ILogPage> {
    return this.request(`jobs/${jobId}/logs` + query({ after, limit }));
  }

  /** `GET /jobs/{id}/metrics?after=SEQ&limit=N` */
  getMetrics(jobId: number, after = 0, limit?: number): Promise<IMetricPage> {
    return this.request(`jobs/${jobId}/metrics` + query({ after, limit }));
  }

  /** `GET /jobs/{id}/search`: the search's settings, its best trial and param importances. */
  getSearch(jobId: number): Promise<ISearchSummary> {
    return this.request(`jobs/${jobId}/search`);
  }

  /** `GET /models`: every model, grouped by job. */
  listModels(): Promise<IModelList> {
    return this.request('models');
  }

  /** `DELETE /models`: every model, file and deployment row. Answers how many were deleted. */
  async clearModels(): Promise<number> {
    return (
      await this.request<{ deleted: number }>('models', { method: 'DELETE' })
    ).deleted;
  }

  /** `GET /models/{id}` */
  getModel(modelId: string): Promise<IModel> {
    return this.request(`models/${encodeURIComponent(modelId)}`);
  }

  /** URL of `GET /models/{id}/file` (a download link). */
  modelFileUrl(modelId: string): string {
    return this.url(`models/${encodeURIComponent(modelId)}/file`);
  }

  /** `GET /deployment`: the deployed model, or null. */
  async getDeployment(): Promise<IDeployment | null> {
    return (
      await this.request<{ deployment: IDeployment | null }>('deployment')
    ).deployment;
  }

  /** `POST /deployment`: deploy (or roll back to) a stored model by hand. */
  deploy(modelId: string): Promise<IDeployment> {
    return this.request('deployment', {
      method: 'POST',
      body: JSON.stringify({ model_id: modelId })
    });
  }

  /** `GET /deployment/history`, newest first. */
  async getDeploymentHistory(): Promise<IDeployment[]> {
    return (
      await this.request<{ history: IDeployment[] }>('deployment/history')
    ).history;
  }

  /** URL of the events websocket, with `?token=` when the settings hold a token. */
  eventsUrl(): string {
    const url = URLExt.join(this.settings.wsUrl, API_PATH, 'ws/events');
    const token = this.settings.token;
    return token ? `${url}?token=${encodeURIComponent(token)}` : url;
  }

  /** Full URL of an API path. */
  url(path: string): string {
    return URLExt.join(this.settings.baseUrl, API_PATH, path);
  }

  /** Send one request; parse JSON; turn an error answer into an `MLOpsError`. */
  private async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(
        this.url(path),
        init,
        this.settings
      );
    } catch (error) {
      throw new MLOpsError(0, `network error: ${String(error)}`);
    }
    const text = await response.text();
    let data: any = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const message =
        (data && data.error) || `${response.status} ${response.statusText}`;
      throw new MLOpsError(response.status, message, data && data.detail);
    }
    return data as T;
  }
}

/** Build a query string from the defined values. */
function query(params: { [key: string]: number | undefined }): string {
  const parts = Object.keys(params)
    .filter(key => params[key] !== undefined)
    .map(key => `${key}=${encodeURIComponent(String(params[key]))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
