import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { ConnectionState, EventMessage, isEventMessage } from './types';

/** The part of the browser's `WebSocket` the client uses (a fake in tests). */
export interface ISocket {
  onopen: ((event: any) => void) | null;
  /** Receives a `CloseEvent` in browsers; its `code` tells a refusal apart. */
  onclose: ((event: { code?: number } | undefined) => void) | null;
  onerror: ((event: any) => void) | null;
  onmessage: ((event: { data: any }) => void) | null;
  close(): void;
}

/** Options of the events client. */
export interface IEventsClientOptions {
  /** The websocket URL, token included. */
  url: string;
  /** Make a socket; the browser's `WebSocket` by default. */
  createSocket?: (url: string) => ISocket;
  /** First reconnect delay in ms (default 500). */
  minDelay?: number;
  /** Cap of the reconnect delay in ms (default 30 s). */
  maxDelay?: number;
  /** Growth factor of the delay per failed attempt (default 2). */
  factor?: number;
  /** Random spread of each delay, as a fraction (default 0.2). */
  jitter?: number;
  /** Random source in [0, 1), for tests. */
  random?: () => number;
  /**
   * Consecutive closes of sockets that never opened after which the server is taken to
   * refuse the connection, and retrying stops (default 5).
   */
  refuseAfter?: number;
}

/**
 * Close codes by which a server turns a socket away: 1008 (policy violation), 4001
 * (unauthorized) and 4003 (forbidden). One of them means "refused" at once.
 */
export const REFUSAL_CLOSE_CODES: ReadonlyArray<number> = [1008, 4001, 4003];

/**
 * One websocket client for `/mlops/api/ws/events`.
 *
 * It emits every message, reports its connection state and reconnects after a loss with an
 * exponential, capped backoff. Messages are notifications only: after each `open` the
 * listener re-reads what it shows over REST.
 *
 * A server that refuses the socket (authentication) makes it close before it opens; browsers
 * do not expose the HTTP 403 of the handshake. So a refusal close code, or `refuseAfter`
 * consecutive closes without an open, stop the retries in the `refused` state, until
 * `reconnectNow()`.
 */
export class EventsClient implements IDisposable {
  constructor(options: IEventsClientOptions) {
    this._url = options.url;
    this._createSocket =
      options.createSocket ?? (url => new WebSocket(url) as ISocket);
    this._minDelay = options.minDelay ?? 500;
    this._maxDelay = options.maxDelay ?? 30000;
    this._factor = options.factor ?? 2;
    this._jitter = options.jitter ?? 0.2;
    this._random = options.random ?? Math.random;
    this._refuseAfter = Math.max(1, options.refuseAfter ?? 5);
  }

  /** Every message received, parsed. */
  get message(): ISignal<this, EventMessage> {
    return this._message;
  }

  /** Emitted when the connection state changes. */
  get stateChanged(): ISignal<this, ConnectionState> {
    return this._stateChanged;
  }

  /** The current connection state. */
  get state(): ConnectionState {
    return this._state;
  }

  /** When the next reconnect attempt is due (ms since epoch), or null. */
  get nextRetry(): number | null {
    return this._nextRetry;
  }

  /** Failed attempts since the last successful open. */
  get attempts(): number {
    return this._attempts;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Open the connection (no-op when already open or connecting). */
  connect(): void {
    if (this._isDisposed || this._socket) {
      return;
    }
    this._clearTimer();
    this._setState(this._attempts === 0 ? 'connecting' : 'reconnecting');
    const socket = this._createSocket(this._url);
    this._socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this._attempts = 0;
      this._closesBeforeOpen = 0;
      this._setState('open');
    };
    socket.onmessage = event => {
      let message: unknown;
      try {
        message = JSON.parse(String(event.data));
      } catch {
        console.warn('jupyter-mlops: ignored a malformed event frame');
        return;
      }
      if (isEventMessage(message)) {
        this._message.emit(message);
      }
    };
    socket.onerror = () => {
      /* a close event follows */
    };
    socket.onclose = event => {
      if (this._socket !== socket) {
        return;
      }
      this._socket = null;
      if (!opened) {
        this._closesBeforeOpen += 1;
      }
      if (
        REFUSAL_CLOSE_CODES.includes(event?.code ?? -1) ||
        this._closesBeforeOpen >= this._refuseAfter
      ) {
        this._refuse();
      } else {
        this._scheduleReconnect();
      }
    };
  }

  /** Skip the wait and retry now (e.g. the user clicked "retry", or signed in again). */
  reconnectNow(): void {
    if (this._socket || this._isDisposed) {
      return;
    }
    this._closesBeforeOpen = 0;
    this.connect();
  }

  /** The delay before attempt number `attempt` (1-based), before jitter. */
  delayFor(attempt: number): number {
    return Math.min(
      this._maxDelay,
      this._minDelay * Math.pow(this._factor, Math.max(0, attempt - 1))
    );
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._clearTimer();
    const socket = this._socket;
    this._socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.close();
    }
    this._setState('closed');
    Signal.clearData(this);
  }

  private _scheduleReconnect(): void {
    if (this._isDisposed) {
      return;
    }
    this._attempts += 1;
    const base = this.delayFor(this._attempts);
    const spread = base * this._jitter * (2 * this._random() - 1);
    const delay = Math.max(0, Math.round(base + spread));
    this._nextRetry = Date.now() + delay;
    this._setState('reconnecting');
    this._timer = setTimeout(() => {
      this._timer = null;
      this._nextRetry = null;
      this.connect();
    }, delay);
  }

  /** The server refuses the socket: stop retrying. */
  private _refuse(): void {
    this._clearTimer();
    this._setState('refused');
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    this._nextRetry = null;
  }

  private _setState(state: ConnectionState): void {
    if (this._state !== state) {
      this._state = state;
      this._stateChanged.emit(state);
    }
  }

  private _url: string;
  private _createSocket: (url: string) => ISocket;
  private _minDelay: number;
  private _maxDelay: number;
  private _factor: number;
  private _jitter: number;
  private _random: () => number;
  private _refuseAfter: number;
  /** Sockets closed without ever opening since the last open (or `reconnectNow`). */
  private _closesBeforeOpen = 0;
  private _socket: ISocket | null = null;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _nextRetry: number | null = null;
  private _attempts = 0;
  private _state: ConnectionState = 'closed';
  private _isDisposed = false;
  private _message = new Signal<this, EventMessage>(this);
  private _stateChanged = new Signal<this, ConnectionState>(this);
}
