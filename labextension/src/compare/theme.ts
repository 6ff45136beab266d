/** The charts' colours, read from JupyterLab's `--jp-*` theme variables, kept in step with it. */
import { useEffect, useState } from 'react';

import type { IChartTheme } from './specs';

/** Read the chart theme from the CSS variables in effect on `node`. */
export function readChartTheme(node: HTMLElement = document.body): IChartTheme {
  const style = getComputedStyle(node);
  const read = (name: string, fallback: string) =>
    style.getPropertyValue(name).trim() || fallback;
  return {
    font: read('--jp-ui-font-family', 'sans-serif'),
    text: read('--jp-ui-font-color1', 'rgba(0, 0, 0, 0.87)'),
    muted: read('--jp-ui-font-color2', 'rgba(0, 0, 0, 0.54)'),
    grid: read('--jp-border-color2', '#e0e0e0'),
    accent: read('--jp-brand-color1', '#1976d2'),
    best: read('--jp-accent-color1', '#388e3c'),
    dark: document.body.dataset.jpThemeLight === 'false'
  };
}

/** The chart theme, read again whenever JupyterLab switches themes (light / dark). */
export function useChartTheme(): IChartTheme {
  const [theme, setTheme] = useState(() => readChartTheme());
  useEffect(() => {
    const update = () => setTheme(readChartTheme());
    const observer = new MutationObserver(() => {
      update();
      // The new theme's stylesheet may apply a moment after the attribute changes.
      setTimeout(update, 500);
    });
    observer.observe(document.body, {
      attributes: true,
      attributeFilter: ['data-jp-theme-name', 'data-jp-theme-light']
    });
    return () => observer.disconnect();
  }, []);
  return theme;
}
