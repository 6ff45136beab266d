/** MLOpsService.getSearch: `GET /jobs/{id}/search` and its error mapping (ServerConnection mocked). */

const makeRequest = jest.fn();
const mockRequest = (...args: any[]) => makeRequest(...args);

jest.mock('@jupyterlab/services', () =>
  require('./http-mocks').mockServices(mockRequest)
);
jest.mock('@jupyterlab/coreutils', () => require('./http-mocks').mockCoreutils);

import { MLOpsError, MLOpsService } from '../service';
import { reply } from './http-mocks';
import { summary } from './compare-fixtures';

describe('MLOpsService.getSearch', () => {
  const service = new MLOpsService({
    baseUrl: 'http://localhost:8888/base/',
    wsUrl: 'ws://localhost:8888/base/',
    token: ''
  } as any);

  beforeEach(() => makeRequest.mockReset());

  it('reads GET /jobs/{id}/search', async () => {
    makeRequest.mockResolvedValue(reply(200, summary()));
    await expect(service.getSearch(7)).resolves.toEqual(summary());
    const [url, init] = makeRequest.mock.calls[0];
    expect(url).toBe('http://localhost:8888/base/mlops/api/jobs/7/search');
    expect(init.method).toBeUndefined();
  });

  it('throws an MLOpsError for an unknown job', async () => {
    makeRequest.mockResolvedValue(
      reply(404, { error: 'job 9 not found', detail: null })
    );
    const error = await service.getSearch(9).catch(e => e);
    expect(error).toBeInstanceOf(MLOpsError);
    expect(error.status).toBe(404);
    expect(error.message).toBe('job 9 not found');
  });
});
