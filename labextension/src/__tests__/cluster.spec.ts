/** Unit tests of how a cluster's worker and the node of each trial are shown. */
import {
  anyTrialNode,
  clusterNodeText,
  clusterText,
  clusterTooltip,
  hasClusterBadge,
  trialNodeText
} from '../cluster';
import type { IWorkerCluster } from '../types';
import { trial, worker } from './fixtures';

/** The cluster docs/API.md shows, with a second node. */
const cluster: IWorkerCluster = {
  engine: 'ray',
  ray: '2.60.0',
  address: '127.0.0.1:6379',
  nodes_alive: 2,
  nodes: [
    { node: '127.0.0.1:4a1f2e07', alive: true, CPU: 1, GPU: 0 },
    { node: '127.0.0.1:9bc0d1e2', alive: true, CPU: 1, GPU: 0 }
  ],
  resources_total: { CPU: 2, GPU: 0 },
  resources_available: { CPU: 0, GPU: 0 },
  per_trial: { CPU: 1 },
  trials_running: 2,
  updated: '2026-12-01T19:30:00.000+00:00'
};

describe('clusterText', () => {
  it('says nothing of a plain worker', () => {
    expect(hasClusterBadge(worker)).toBe(false);
    expect(hasClusterBadge({ ...worker, capacity: 1, cluster: null })).toBe(
      false
    );
    expect(clusterText({ ...worker, capacity: 1, cluster: null })).toBe('');
  });

  it('shows the engine, nodes, free resources and trials running', () => {
    const ray = { ...worker, capacity: 2, cluster };
    expect(hasClusterBadge(ray)).toBe(true);
    // a cluster without GPUs says nothing of them
    expect(clusterText(ray)).toBe('Ray · 2 nodes · CPU 0/2 free · 2/2 trials');
  });

  it('shows GPUs when the cluster has some, and fractions of a resource', () => {
    const gpus = {
      ...cluster,
      nodes_alive: 1,
      resources_total: { CPU: 8, GPU: 4 },
      resources_available: { CPU: 6.5, GPU: 1 },
      trials_running: 3
    };
    expect(clusterText({ ...worker, capacity: 4, cluster: gpus })).toBe(
      'Ray · 1 node · CPU 6.5/8 free · GPU 1/4 free · 3/4 trials'
    );
  });

  it('shows only the parts present', () => {
    expect(clusterText({ ...worker, capacity: 3, cluster: {} })).toBe(
      '3 trials at once'
    );
    expect(
      clusterText({ ...worker, cluster: { resources_total: { CPU: 4 } } })
    ).toBe('CPU 4');
    expect(clusterText({ ...worker, capacity: 4 })).toBe('4 trials at once');
  });
});

describe('clusterTooltip', () => {
  it('lists where the cluster is and each node with its CPUs and GPUs', () => {
    expect(clusterTooltip(cluster).split('\n')).toEqual([
      'Ray 2.60.0 at 127.0.0.1:6379',
      '127.0.0.1:4a1f2e07 · CPU 1 · GPU 0',
      '127.0.0.1:9bc0d1e2 · CPU 1 · GPU 0',
      'each trial: CPU 1'
    ]);
    expect(clusterTooltip(null)).toBe('');
  });

  it('marks a node that is down and leaves out what it did not report', () => {
    expect(clusterNodeText({ node: '10.0.0.2:aa', alive: false, GPU: 2 })).toBe(
      '10.0.0.2:aa · GPU 2 (down)'
    );
  });
});

describe('trialNodeText', () => {
  it('shows the node a trial runs on, and whether any trial has one', () => {
    const placed = trial(7, 0, { node: '127.0.0.1:4a1f2e07' });
    const plain = trial(7, 1);
    expect(trialNodeText(placed)).toBe('node 127.0.0.1:4a1f2e07');
    expect(trialNodeText(plain)).toBe('');
    expect(anyTrialNode([plain, placed])).toBe(true);
    expect(anyTrialNode([plain, { ...plain, node: null }])).toBe(false);
  });
});
