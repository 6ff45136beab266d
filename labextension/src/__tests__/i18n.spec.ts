/** Unit tests of the translation bundle: English without a translator, the translator's with. */
import { DOMAIN, englishTrans, setTranslator, trans } from '../i18n';
import { timeAgo } from '../format';

describe('trans', () => {
  afterEach(() => setTranslator(null));

  it('is English, placeholders filled, without a translator', () => {
    expect(trans.__('Job #%1 failed', 3)).toBe('Job #3 failed');
    expect(trans._n('%1 trial', '%1 trials', 1)).toBe('1 trial');
    expect(trans._n('%1 trial', '%1 trials', 2)).toBe('2 trials');
  });

  it("uses the translator's bundle of this extension's domain", () => {
    const domains: string[] = [];
    const french = {
      __: (msgid: string, ...args: any[]) =>
        englishTrans.__(msgid === '%1 s ago' ? 'il y a %1 s' : msgid, ...args),
      _n: englishTrans._n
    };
    setTranslator({
      load: (domain: string) => {
        domains.push(domain);
        return french;
      }
    } as any);
    expect(domains).toEqual([DOMAIN]);
    expect(
      timeAgo('2026-01-01T00:00:00Z', Date.parse('2026-01-01T00:00:05Z'))
    ).toBe('il y a 5 s');
    setTranslator(null);
    expect(
      timeAgo('2026-01-01T00:00:00Z', Date.parse('2026-01-01T00:00:05Z'))
    ).toBe('5 s ago');
  });
});
