/** Unit tests of what the connection banner says in each connection state. */
import { bannerText } from '../components/ConnectionBanner';

describe('bannerText', () => {
  it('is hidden while connected', () => {
    expect(bannerText('open', null, 0)).toBeNull();
  });

  it('counts down to the next reconnect attempt', () => {
    expect(bannerText('reconnecting', 5000, 1200)).toBe(
      'Connection to the MLOps hub lost — reconnecting… (next try in 4 s)'
    );
    expect(bannerText('reconnecting', null, 0)).toBe(
      'Connection to the MLOps hub lost — reconnecting…'
    );
    expect(bannerText('connecting', null, 0)).toBe(
      'Connecting to the MLOps hub…'
    );
    expect(bannerText('closed', null, 0)).toBe(
      'Not connected to the MLOps hub.'
    );
  });

  it('tells the user to sign in again when the server refused the socket', () => {
    expect(bannerText('refused', null, 0)).toBe(
      'The server refused the connection to the MLOps hub: ' +
        'sign in again, then reload the page.'
    );
  });
});
