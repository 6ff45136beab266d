/** Unit tests of EventsClient: messages, states and capped exponential backoff. */
import { EventsClient, ISocket } from '../events';
import { ConnectionState, EventMessage } from '../types';

class FakeSocket implements ISocket {
  onopen: ((event: any) => void) | null = null;
  onclose: ((event: any) => void) | null = null;
  onerror: ((event: any) => void) | null = null;
  onmessage: ((event: { data: any }) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {}
  close(): void {
    this.closed = true;
  }
  open(): void {
    this.onopen?.({});
  }
  drop(): void {
    this.onclose?.({});
  }
  send(data: unknown): void {
    this.onmessage?.({
      data: typeof data === 'string' ? data : JSON.stringify(data)
    });
  }
}

describe('EventsClient', () => {
  let sockets: FakeSocket[];
  let client: EventsClient;
  let states: ConnectionState[];

  beforeEach(() => {
    jest.useFakeTimers();
    sockets = [];
    states = [];
    client = new EventsClient({
      url: 'ws://h/mlops/api/ws/events',
      createSocket: url => {
        const socket = new FakeSocket(url);
        sockets.push(socket);
        return socket;
      },
      minDelay: 100,
      maxDelay: 1000,
      jitter: 0
    });
    client.stateChanged.connect((_, state) => states.push(state));
  });

  afterEach(() => {
    client.dispose();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('connects, reports open and emits parsed messages', () => {
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const messages: EventMessage[] = [];
    client.message.connect((_, message) => messages.push(message));
    client.connect();
    expect(sockets).toHaveLength(1);
    expect(sockets[0].url).toBe('ws://h/mlops/api/ws/events');
    sockets[0].open();
    expect(client.state).toBe('open');
    sockets[0].send({ type: 'deployment', deployment: null });
    sockets[0].send('not json');
    sockets[0].send({ no: 'type' });
    expect(messages).toEqual([{ type: 'deployment', deployment: null }]);
    expect(states).toEqual(['connecting', 'open']);
  });

  it('reconnects with exponential backoff capped at maxDelay', () => {
    client.connect();
    const delays: number[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      const before = sockets.length;
      sockets[sockets.length - 1].drop();
      expect(client.state).toBe('reconnecting');
      let waited = 0;
      while (sockets.length === before) {
        jest.advanceTimersByTime(50);
        waited += 50;
      }
      delays.push(waited);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('resets the backoff after a successful open', () => {
    client.connect();
    sockets[0].drop();
    jest.advanceTimersByTime(100);
    sockets[1].drop();
    jest.advanceTimersByTime(200);
    expect(sockets).toHaveLength(3);
    sockets[2].open();
    expect(client.attempts).toBe(0);
    sockets[2].drop();
    jest.advanceTimersByTime(99);
    expect(sockets).toHaveLength(3);
    jest.advanceTimersByTime(1);
    expect(sockets).toHaveLength(4);
    expect(states).toEqual([
      'connecting',
      'reconnecting',
      'open',
      'reconnecting'
    ]);
  });

  it('retries at once on reconnectNow and stops after dispose', () => {
    client.connect();
    sockets[0].drop();
    expect(client.nextRetry).not.toBeNull();
    client.reconnectNow();
    expect(sockets).toHaveLength(2);
    sockets[1].open();
    client.dispose();
    expect(sockets[1].closed).toBe(true);
    expect(client.state).toBe('closed');
    jest.advanceTimersByTime(10000);
    expect(sockets).toHaveLength(2);
  });

  it('spreads delays with jitter within bounds', () => {
    const jittery = new EventsClient({
      url: 'ws://x',
      minDelay: 1000,
      maxDelay: 8000,
      jitter: 0.2,
      random: () => 0.999
    });
    expect(jittery.delayFor(1)).toBe(1000);
    expect(jittery.delayFor(4)).toBe(8000);
    expect(jittery.delayFor(10)).toBe(8000);
    jittery.dispose();
  });
});
