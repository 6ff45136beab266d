/** Unit tests of the remote-worker credentials: token REST calls, "Add a remote worker",
 * Revoke, and Forget of an offline worker (service, entities and model). */

const makeRequest = jest.fn();
const mockRequest = (...args: any[]) => makeRequest(...args);

jest.mock('@jupyterlab/services', () =>
  require('./http-mocks').mockServices(mockRequest)
);
jest.mock('@jupyterlab/coreutils', () => require('./http-mocks').mockCoreutils);

import { MLOpsModel } from '../model';
import { MLOpsService } from '../service';
import { EntityStore } from '../state/entities';
import { RemoteWorkers, TokenApi } from '../state/tokens';
import { IIssuedToken, IToken } from '../types';
import { FakeApi, FakeEvents, settle, worker } from './fixtures';
import { reply } from './http-mocks';

const settings: any = {
  baseUrl: 'http://localhost:8888/',
  wsUrl: 'ws://localhost:8888/',
  token: ''
};

function token(id: number, revoked: string | null = null): IToken {
  return {
    id,
    name: `t${id}`,
    scope: 'worker',
    created: '2026-01-01T00:00:00.000+00:00',
    last_used: null,
    revoked
  };
}

describe('MLOpsService tokens and workers', () => {
  beforeEach(() => makeRequest.mockReset());

  it('issues, lists and revokes tokens, and forgets a worker', async () => {
    const service = new MLOpsService(settings);
    const issued: IIssuedToken = {
      token: token(1),
      secret: 'mlops_s',
      setup: ['export JUPYTER_MLOPS_TOKEN=mlops_s', '%mlops connect http://h/']
    };
    makeRequest.mockResolvedValue(reply(201, issued));
    await expect(service.createToken('colab')).resolves.toEqual(issued);
    let [url, init] = makeRequest.mock.calls[0];
    expect(url).toBe('http://localhost:8888/mlops/api/tokens');
    expect(init.method).toBe('POST');
    expect(JSON.parse(init.body)).toEqual({ name: 'colab', scope: 'worker' });

    makeRequest.mockResolvedValue(reply(200, { tokens: [token(1)] }));
    await expect(service.listTokens()).resolves.toEqual([token(1)]);

    makeRequest.mockResolvedValue(reply(200, token(1, 'now')));
    await service.revokeToken(1);
    [url, init] = makeRequest.mock.calls[2];
    expect(url).toBe('http://localhost:8888/mlops/api/tokens/1');
    expect(init.method).toBe('DELETE');

    makeRequest.mockResolvedValue(
      reply(409, { error: 'worker w is online', detail: { reason: 'online' } })
    );
    await expect(service.forgetWorker(4)).rejects.toMatchObject({
      status: 409
    });
    [url, init] = makeRequest.mock.calls[3];
    expect(url).toBe('http://localhost:8888/mlops/api/workers/4');
    expect(init.method).toBe('DELETE');
  });
});

describe('forgotten workers', () => {
  it('leave the entity store on their worker event', () => {
    const store = new EntityStore();
    store.applyEvent({ type: 'worker', worker: { ...worker, online: false } });
    expect(store.workers.map(w => w.id)).toEqual([worker.id]);
    store.applyEvent({
      type: 'worker',
      worker: { ...worker, online: false, forgotten: true }
    });
    expect(store.workers).toEqual([]);
  });

  it('leave the model when forgotten through it', async () => {
    const api = new FakeApi();
    api.workers = [{ ...worker, online: false }];
    const events = new FakeEvents();
    const model = new MLOpsModel(api, events);
    events.setState('open');
    await settle();
    expect(model.workers.length).toBe(1);
    await model.forgetWorker(worker.id);
    expect(api.forgetWorker).toHaveBeenCalledWith(worker.id);
    expect(model.workers).toEqual([]);
    model.dispose();
  });
});

class FakeTokens implements TokenApi {
  tokens: IToken[] = [];
  listTokens = jest.fn(async () => [...this.tokens]);
  createToken = jest.fn(async (name: string) => {
    const issued = { ...token(this.tokens.length + 1), name };
    this.tokens.unshift(issued);
    return {
      token: issued,
      secret: 'mlops_secret',
      setup: [
        'export JUPYTER_MLOPS_TOKEN=mlops_secret',
        '%mlops connect http://hub/'
      ]
    };
  });
  revokeToken = jest.fn(async (id: number) => {
    const found = this.tokens.find(t => t.id === id) as IToken;
    found.revoked = '2026-01-02T00:00:00.000+00:00';
    return found;
  });
}

describe('RemoteWorkers', () => {
  it('adds a remote worker: the two lines once, then the token is listed', async () => {
    const api = new FakeTokens();
    const changed = jest.fn();
    const state = new RemoteWorkers(api, changed);
    await state.reload();
    expect(state.tokens).toEqual([]);
    await state.add('  colab  ');
    expect(api.createToken).toHaveBeenCalledWith('colab', 'worker');
    expect(state.setupText).toBe(
      'export JUPYTER_MLOPS_TOKEN=mlops_secret\n%mlops connect http://hub/'
    );
    expect(state.setupText).not.toContain('%env');
    expect(state.tokens.map(t => t.name)).toEqual(['colab']);
    state.dismiss();
    expect(state.issued).toBeNull();
    expect(state.setupText).toBe('');
    expect(changed).toHaveBeenCalled();
    await state.add('');
    expect(api.createToken).toHaveBeenLastCalledWith('remote worker', 'worker');
  });

  it('revokes a token and drops its setup lines', async () => {
    const api = new FakeTokens();
    const state = new RemoteWorkers(api);
    await state.add('colab');
    const id = state.tokens[0].id;
    await state.revoke(id);
    expect(api.revokeToken).toHaveBeenCalledWith(id);
    expect(state.issued).toBeNull();
    expect(state.tokens[0].revoked).not.toBeNull();
  });

  it('keeps the error of a failed call', async () => {
    const api = new FakeTokens();
    api.listTokens.mockRejectedValueOnce(new Error('403 Forbidden'));
    const state = new RemoteWorkers(api);
    await state.reload();
    expect(state.error).toBe('403 Forbidden');
    await state.reload();
    expect(state.error).toBeNull();
  });
});
