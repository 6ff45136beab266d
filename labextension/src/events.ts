import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { ConnectionState, EventMessage } from './types';

/** The part of the browser's `WebSocket` the client uses (a fake in tests). */
export interface ISocket {
  onopen: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
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
}

/**
 * One websocket client for `/mlops/api/ws/events`.
 *
 * It emits every message, reports its connection state and reconnects after a loss with an
 * exponential, capped backoff. Messages are notifications only: after each `open` the
 * listener re-reads what it shows over REST.
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
    socket.onopen = () => {
      this._attempts = 0;
      this._setState('open');
    };
    socket.onmessage = event => {
      let message: EventMessage;
      try {
        message = JSON.parse(String(event.data));
      } catch {
        console.warn('jupyter-mlops: ignored a malformed event frame');
        return;
      }
      if (message && typeof message.type === 'string') {
        this._message.emit(message);
      }
    };
    socket.onerror = () => {
      /* a close event follows */
    };
    socket.onclose = () => {
      if (this._socket !== socket) {
        return;
      }
      this._socket = null;
      this._scheduleReconnect();
    };
  }

  /** Skip the wait and retry now (e.g. the user clicked "retry"). */
  reconnectNow(): void {
    if (this._socket || this._isDisposed) {
      return;
    }
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
  private _socket: ISocket | null = null;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _nextRetry: number | null = null;
  private _attempts = 0;
  private _state: ConnectionState = 'closed';
  private _isDisposed = false;
  private _message = new Signal<this, EventMessage>(this);
  private _stateChanged = new Signal<this, ConnectionState>(this);
}
