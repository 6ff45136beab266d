/** Shared jest module mocks for tests of the REST service (ServerConnection and URLExt). */

export const mockCoreutils = {
  URLExt: {
    join: (...parts: string[]) =>
      parts
        .map((part, i) =>
          i === 0 ? part.replace(/\/+$/, '') : part.replace(/^\/+|\/+$/g, '')
        )
        .join('/')
  }
};

/** `@jupyterlab/services` whose requests go to `makeRequest` (a jest.fn of the test). */
export function mockServices(
  makeRequest: (...args: any[]) => unknown
): unknown {
  return {
    ServerConnection: {
      makeRequest: (...args: any[]) => makeRequest(...args),
      makeSettings: () => ({
        baseUrl: 'http://localhost:8888/',
        wsUrl: 'ws://localhost:8888/',
        token: ''
      })
    }
  };
}

/** A JSON answer of the server. */
export function reply(status: number, body: unknown): Response {
  return new Response(body === undefined ? '' : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}
