import { LabIcon } from '@jupyterlab/ui-components';

/** The panel's icon: a rising training curve over a flask. */
const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M9 2h6v2h-1v5.2l5.6 9.3A2 2 0 0 1 17.9 21H6.1a2 2 0 0 1-1.7-2.5L10 9.2V4H9V2zm3 8.1-3.2 5.4h6.4L12 10.1z"/>
  </g>
  <g class="jp-icon-accent2" fill="#ffffff">
    <circle cx="12" cy="17.5" r="1"/>
  </g>
</svg>`;

export const mlopsIcon = new LabIcon({ name: 'jupyter-mlops:icon', svgstr });
