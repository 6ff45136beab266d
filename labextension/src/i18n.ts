/**
 * The panel's translation bundle. JupyterLab's `ITranslator` is optional: without one (or
 * in the unit tests) the English text is used, with the same `%1` placeholders.
 */
import type { ITranslator } from '@jupyterlab/translation';

/** The gettext domain of this extension (a language pack names it so). */
export const DOMAIN = 'jupyter_mlops';

/** The two calls the views use, as in JupyterLab's `TranslationBundle`. */
export interface ITrans {
  /** Translate `msgid`, replacing `%1`, `%2`, ... by `args`. */
  __(msgid: string, ...args: any[]): string;
  /** The singular or plural of `n`; `%1` is `n`, `%2`, ... are `args`. */
  _n(msgid: string, plural: string, n: number, ...args: any[]): string;
}

/** `%1`, `%2`, ... replaced by `args` (`%%` is a literal `%`), as JupyterLab's gettext does. */
export function substitute(text: string, args: ReadonlyArray<any>): string {
  return text
    .replace(/%%/g, '%% ')
    .replace(/%(\d+)/g, (match, index) =>
      Number(index) - 1 < args.length ? String(args[Number(index) - 1]) : match
    )
    .replace(/%% /g, '%');
}

/** English: the text itself, placeholders filled in. */
export const englishTrans: ITrans = {
  __: (msgid, ...args) => substitute(msgid, args),
  _n: (msgid, plural, n, ...args) =>
    substitute(n === 1 ? msgid : plural, [n, ...args])
};

let bundle: ITrans = englishTrans;

/** Use `translator`'s bundle for this extension from now on (null: English). */
export function setTranslator(
  translator: ITranslator | null | undefined
): void {
  bundle = translator ? translator.load(DOMAIN) : englishTrans;
}

/** The current bundle; the views call `trans.__(...)`. */
export const trans: ITrans = {
  __: (msgid, ...args) => bundle.__(msgid, ...args),
  _n: (msgid, plural, n, ...args) => bundle._n(msgid, plural, n, ...args)
};
