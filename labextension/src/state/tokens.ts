import type { MLOpsService } from '../service';
import { IIssuedToken, IToken } from '../types';

/** The REST methods the remote-workers view uses (an `MLOpsService`, or a fake in tests). */
export type TokenApi = Pick<
  MLOpsService,
  'listTokens' | 'createToken' | 'revokeToken'
>;

/**
 * State of "Add a remote worker": the scoped tokens and the one just issued.
 *
 * A new worker token's secret is kept only until `dismiss()`: the server shows it once, in
 * the answer that issued it, as two lines to paste (the `export` for the worker's shell or
 * Colab secret, and `%mlops connect URL` for its notebook). Nothing here puts a token in a
 * notebook cell.
 */
export class RemoteWorkers {
  constructor(
    readonly api: TokenApi,
    readonly onChange: () => void = () => undefined
  ) {}

  /** Every token, newest first (revoked ones too). */
  get tokens(): ReadonlyArray<IToken> {
    return this._tokens;
  }

  /** The token just issued, with its secret and setup lines, until dismissed. */
  get issued(): IIssuedToken | null {
    return this._issued;
  }

  /** The last failure, or null. */
  get error(): string | null {
    return this._error;
  }

  /** The lines to paste for the issued token, one per line. */
  get setupText(): string {
    return this._issued ? this._issued.setup.join('\n') : '';
  }

  /** Re-read the tokens. */
  async reload(): Promise<void> {
    await this._run(async () => {
      this._tokens = await this.api.listTokens();
    });
  }

  /** Issue a worker token named `name` (or "remote worker") and keep its setup lines. */
  async add(name: string): Promise<void> {
    await this._run(async () => {
      this._issued = await this.api.createToken(
        name.trim() || 'remote worker',
        'worker'
      );
      this._tokens = await this.api.listTokens();
    });
  }

  /** Revoke a token: its workers' links close and their trials go back to the queue. */
  async revoke(tokenId: number): Promise<void> {
    await this._run(async () => {
      await this.api.revokeToken(tokenId);
      if (this._issued?.token.id === tokenId) {
        this._issued = null;
      }
      this._tokens = await this.api.listTokens();
    });
  }

  /** Forget the issued secret (it cannot be shown again). */
  dismiss(): void {
    this._issued = null;
    this.onChange();
  }

  private async _run(action: () => Promise<void>): Promise<void> {
    try {
      await action();
      this._error = null;
    } catch (error) {
      this._error = error instanceof Error ? error.message : String(error);
    }
    this.onChange();
  }

  private _tokens: IToken[] = [];
  private _issued: IIssuedToken | null = null;
  private _error: string | null = null;
}
