/** Unit tests of MLOpsService: URLs, verbs, bodies and error mapping (ServerConnection mocked). */

const makeRequest = jest.fn();
const mockRequest = (...args: any[]) => makeRequest(...args);

jest.mock('@jupyterlab/services', () =>
  require('./http-mocks').mockServices(mockRequest)
);
jest.mock('@jupyterlab/coreutils', () => require('./http-mocks').mockCoreutils);

import { MLOpsError, MLOpsService } from '../service';
import { reply } from './http-mocks';

const settings: any = {
  baseUrl: 'http://localhost:8888/lab-base/',
  wsUrl: 'ws://localhost:8888/lab-base/',
  token: 'secret token'
};

/** The [url, init] of the last request. */
function lastCall(): [string, RequestInit] {
  const call = makeRequest.mock.calls[makeRequest.mock.calls.length - 1];
  return [call[0], call[1]];
}

describe('MLOpsService', () => {
  let service: MLOpsService;

  beforeEach(() => {
    makeRequest.mockReset();
    service = new MLOpsService(settings);
  });

  it('lists workers from GET /workers', async () => {
    makeRequest.mockResolvedValue(
      reply(200, { workers: [{ id: 1, name: 'w' }] })
    );
    const workers = await service.listWorkers();
    expect(workers).toEqual([{ id: 1, name: 'w' }]);
    const [url, init] = lastCall();
    expect(url).toBe('http://localhost:8888/lab-base/mlops/api/workers');
    expect(init.method).toBeUndefined();
    expect(makeRequest.mock.calls[0][2]).toBe(settings);
  });

  it('validates a grid with POST /grid/validate', async () => {
    const answer = { valid: true, trial_count: 2, warnings: [], errors: [] };
    makeRequest.mockResolvedValue(reply(200, answer));
    await expect(service.validateGrid({ LR: [1, 2] }, 'w1')).resolves.toEqual(
      answer
    );
    const [url, init] = lastCall();
    expect(url).toBe('http://localhost:8888/lab-base/mlops/api/grid/validate');
    expect(init.method).toBe('POST');
    expect(JSON.parse(init.body as string)).toEqual({
      conf: { LR: [1, 2] },
      worker: 'w1'
    });
  });

  it('launches, reads and cancels jobs', async () => {
    makeRequest.mockResolvedValue(reply(201, { id: 7, status: 'queued' }));
    await expect(service.launchJob({ A: 1 })).resolves.toEqual({
      id: 7,
      status: 'queued'
    });
    expect(lastCall()[0]).toMatch(/mlops\/api\/jobs$/);
    expect(JSON.parse(lastCall()[1].body as string)).toEqual({
      conf: { A: 1 },
      worker: 'any'
    });

    makeRequest.mockResolvedValue(reply(200, { jobs: [{ id: 7 }] }));
    await expect(service.listJobs()).resolves.toEqual([{ id: 7 }]);

    makeRequest.mockResolvedValue(reply(200, { id: 7, trials: [] }));
    await service.getJob(7);
    expect(lastCall()[0]).toMatch(/mlops\/api\/jobs\/7$/);

    makeRequest.mockResolvedValue(reply(200, { id: 7, status: 'cancelled' }));
    await service.cancelJob(7);
    expect(lastCall()[0]).toMatch(/mlops\/api\/jobs\/7\/cancel$/);
    expect(lastCall()[1].method).toBe('POST');
  });

  it('retries the failed trials of a job with POST /jobs/{id}/retry', async () => {
    makeRequest.mockResolvedValue(reply(200, { id: 7, status: 'queued' }));
    await expect(service.retryJob(7)).resolves.toEqual({
      id: 7,
      status: 'queued'
    });
    const [url, init] = lastCall();
    expect(url).toBe('http://localhost:8888/lab-base/mlops/api/jobs/7/retry');
    expect(init.method).toBe('POST');
    expect(init.body).toBeUndefined();

    makeRequest.mockResolvedValue(
      reply(409, { error: 'job 7 has no failed trial to retry' })
    );
    await expect(service.retryJob(7)).rejects.toMatchObject({
      status: 409,
      message: 'job 7 has no failed trial to retry'
    });
  });

  it('pages logs and metrics with after and limit', async () => {
    makeRequest.mockResolvedValue(
      reply(200, { job_id: 3, lines: [], last_seq: 12 })
    );
    await service.getLogs(3, 12, 500);
    expect(lastCall()[0]).toMatch(
      /mlops\/api\/jobs\/3\/logs\?after=12&limit=500$/
    );
    makeRequest.mockResolvedValue(
      reply(200, { job_id: 3, points: [], last_seq: 0 })
    );
    await service.getMetrics(3);
    expect(lastCall()[0]).toMatch(/mlops\/api\/jobs\/3\/metrics\?after=0$/);
  });

  it('reads, clears and deploys models', async () => {
    makeRequest.mockResolvedValue(reply(200, { models: [], groups: [] }));
    await expect(service.listModels()).resolves.toEqual({
      models: [],
      groups: []
    });

    makeRequest.mockResolvedValue(reply(200, { deleted: 4 }));
    await expect(service.clearModels()).resolves.toBe(4);
    expect(lastCall()[1].method).toBe('DELETE');

    makeRequest.mockResolvedValue(reply(200, { id: '7-0' }));
    await service.getModel('7-0');
    expect(lastCall()[0]).toMatch(/mlops\/api\/models\/7-0$/);

    makeRequest.mockResolvedValue(reply(201, { id: 2, model_id: '7-0' }));
    await service.deploy('7-0');
    expect(lastCall()[0]).toMatch(/mlops\/api\/deployment$/);
    expect(JSON.parse(lastCall()[1].body as string)).toEqual({
      model_id: '7-0'
    });

    makeRequest.mockResolvedValue(reply(200, { deployment: null }));
    await expect(service.getDeployment()).resolves.toBeNull();

    makeRequest.mockResolvedValue(reply(200, { history: [{ id: 2 }] }));
    await expect(service.getDeploymentHistory()).resolves.toEqual([{ id: 2 }]);
    expect(lastCall()[0]).toMatch(/mlops\/api\/deployment\/history$/);

    expect(service.modelFileUrl('7-0')).toBe(
      'http://localhost:8888/lab-base/mlops/api/models/7-0/file'
    );
  });

  it('turns an error answer into an MLOpsError with its problems', async () => {
    makeRequest.mockResolvedValue(
      reply(400, {
        error: 'conf is invalid',
        detail: {
          errors: [{ key: 'EPOCHS', message: 'EPOCHS must be an integer' }]
        }
      })
    );
    const error: MLOpsError = await service
      .launchJob({ EPOCHS: 'x' })
      .catch(e => e);
    expect(error).toBeInstanceOf(MLOpsError);
    expect(error.status).toBe(400);
    expect(error.message).toBe('conf is invalid');
    expect(error.problems).toEqual([
      { key: 'EPOCHS', message: 'EPOCHS must be an integer' }
    ]);
  });

  it('reports a non-JSON error and a network failure', async () => {
    makeRequest.mockResolvedValue(
      new Response('oops', { status: 502, statusText: 'Bad Gateway' })
    );
    await expect(service.listWorkers()).rejects.toMatchObject({
      status: 502,
      problems: []
    });
    makeRequest.mockRejectedValue(new TypeError('Failed to fetch'));
    await expect(service.listWorkers()).rejects.toMatchObject({ status: 0 });
  });

  it('builds the events websocket URL with the token', () => {
    expect(service.eventsUrl()).toBe(
      'ws://localhost:8888/lab-base/mlops/api/ws/events?token=secret%20token'
    );
    const anonymous = new MLOpsService({ ...settings, token: '' });
    expect(anonymous.eventsUrl()).toBe(
      'ws://localhost:8888/lab-base/mlops/api/ws/events'
    );
  });
});
