/** Unit tests of EventsClient: messages, states, capped exponential backoff, refusal. */
import { EventsClient, IEventsClientOptions, ISocket } from '../events';
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
  drop(code = 1006): void {
    this.onclose?.({ code });
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

  /** A client on fake sockets (collected in `sockets`), its states in `states`. */
  function makeClient(options: Partial<IEventsClientOptions>): EventsClient {
    sockets = [];
    states = [];
    const made = new EventsClient({
      url: 'ws://h/mlops/api/ws/events',
      createSocket: url => {
        const socket = new FakeSocket(url);
        sockets.push(socket);
        return socket;
      },
      minDelay: 100,
      jitter: 0,
      ...options
    });
    made.stateChanged.connect((_, state) => states.push(state));
    return made;
  }

  beforeEach(() => {
    jest.useFakeTimers();
    client = makeClient({ maxDelay: 1000, refuseAfter: 10 });
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
    sockets[0].send({ type: 'progress' }); // not a subscriber message type
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

  /** Drop the newest socket before it opens, then wait out the backoff. */
  function failOnce(): void {
    sockets[sockets.length - 1].drop();
    jest.advanceTimersByTime(10000);
  }

  it('stops retrying after refuseAfter closes without an open (default 5)', () => {
    client.dispose();
    client = makeClient({});
    client.connect();
    for (let i = 0; i < 4; i++) {
      failOnce();
      expect(client.state).toBe('reconnecting');
    }
    expect(sockets).toHaveLength(5);
    sockets[4].drop();
    expect(client.state).toBe('refused');
    expect(client.nextRetry).toBeNull();
    jest.advanceTimersByTime(600000);
    expect(sockets).toHaveLength(5);
    expect(states[states.length - 1]).toBe('refused');
  });

  it('counts only consecutive closes of sockets that never opened', () => {
    client.connect();
    for (let i = 0; i < 9; i++) {
      failOnce();
    }
    sockets[sockets.length - 1].open(); // the server let one in: not refused
    sockets[sockets.length - 1].drop();
    jest.advanceTimersByTime(10000);
    for (let i = 0; i < 9; i++) {
      failOnce();
    }
    expect(client.state).toBe('reconnecting');
    sockets[sockets.length - 1].drop();
    expect(client.state).toBe('refused');
  });

  it.each([1008, 4001, 4003])(
    'takes close code %i as a refusal at once, even after an open',
    code => {
      client.connect();
      sockets[0].open();
      sockets[0].drop(code);
      expect(client.state).toBe('refused');
      jest.advanceTimersByTime(600000);
      expect(sockets).toHaveLength(1);
    }
  );

  it('tries again on reconnectNow after a refusal, with a fresh count', () => {
    client.connect();
    sockets[0].drop(4003);
    expect(client.state).toBe('refused');
    client.reconnectNow();
    expect(sockets).toHaveLength(2);
    expect(client.state).toBe('connecting');
    sockets[1].open();
    expect(client.state).toBe('open');
    sockets[1].drop();
    for (let i = 0; i < 9; i++) {
      failOnce();
    }
    expect(client.state).toBe('reconnecting');
  });
});
