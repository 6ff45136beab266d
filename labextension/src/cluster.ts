/**
 * How a cluster's worker (a Ray executor) and the node of each trial are shown: short text
 * built only from the parts the worker reported (docs/API.md, "Clusters").
 */

import { trans } from './i18n';
import type { IClusterNode, ITrial, IWorker, IWorkerCluster } from './types';

/** The resources shown, in this order. */
const RESOURCES = ['CPU', 'GPU'];

/** A resource amount: Ray reports fractions ("0.5"), most are whole numbers. */
function amount(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** A finite number, or undefined for anything else the worker may have sent. */
function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' && isFinite(value) ? value : undefined;
}

/** The engine's name as shown: "Ray" for `ray`, else what the worker said. */
function engineName(engine: string | undefined): string {
  if (!engine) {
    return '';
  }
  return engine === 'ray' ? trans.__('Ray') : engine;
}

/** True when the worker gets a cluster badge: it has a cluster or runs trials in parallel. */
export function hasClusterBadge(worker: IWorker): boolean {
  return !!worker.cluster || (worker.capacity ?? 1) > 1;
}

/**
 * "Ray · 2 nodes · CPU 0/2 free · GPU 1/4 free · 2/2 trials": the engine, the nodes alive,
 * each resource's free/total, and the trials running of its capacity — only the parts
 * present. A worker without a cluster that runs several trials at once: "4 trials at once".
 * "" for a plain worker.
 */
export function clusterText(worker: IWorker): string {
  const cluster = worker.cluster;
  const capacity = numberOr(worker.capacity);
  if (!cluster) {
    return capacity !== undefined && capacity > 1
      ? trans._n('%1 trial at once', '%1 trials at once', capacity)
      : '';
  }
  const parts: string[] = [];
  const engine = engineName(cluster.engine);
  if (engine) {
    parts.push(engine);
  }
  const alive = numberOr(cluster.nodes_alive);
  if (alive !== undefined) {
    parts.push(trans._n('%1 node', '%1 nodes', alive));
  }
  for (const resource of RESOURCES) {
    const total = numberOr(cluster.resources_total?.[resource]);
    if (total === undefined || total <= 0) {
      continue; // a cluster without GPUs says nothing of them
    }
    const free = numberOr(cluster.resources_available?.[resource]);
    parts.push(
      free === undefined
        ? trans.__('%1 %2', resource, amount(total))
        : trans.__('%1 %2/%3 free', resource, amount(free), amount(total))
    );
  }
  const running = numberOr(cluster.trials_running);
  if (running !== undefined) {
    parts.push(
      capacity !== undefined
        ? trans.__('%1/%2 trials', running, capacity)
        : trans._n('%1 trial', '%1 trials', running)
    );
  } else if (capacity !== undefined && capacity > 1) {
    parts.push(trans._n('%1 trial at once', '%1 trials at once', capacity));
  }
  return parts.join(' · ');
}

/** "10.0.0.2:4a1f2e07 · CPU 8 · GPU 1", with "(down)" for a node no longer alive. */
export function clusterNodeText(node: IClusterNode): string {
  const parts = [String(node.node ?? '')];
  for (const resource of RESOURCES) {
    const value = numberOr(node[resource as 'CPU' | 'GPU']);
    if (value !== undefined) {
      parts.push(trans.__('%1 %2', resource, amount(value)));
    }
  }
  const text = parts.join(' · ');
  return node.alive === false ? trans.__('%1 (down)', text) : text;
}

/** The tooltip of a cluster badge: where the cluster is, then one line per node. */
export function clusterTooltip(
  cluster: IWorkerCluster | null | undefined
): string {
  if (!cluster) {
    return '';
  }
  const lines: string[] = [];
  if (cluster.address) {
    lines.push(
      cluster.ray
        ? trans.__('Ray %1 at %2', cluster.ray, cluster.address)
        : trans.__('cluster at %1', cluster.address)
    );
  }
  const nodes = Array.isArray(cluster.nodes) ? cluster.nodes : [];
  for (const node of nodes) {
    lines.push(clusterNodeText(node));
  }
  const perTrial = Object.entries(cluster.per_trial ?? {})
    .filter(([, value]) => numberOr(value) !== undefined)
    .map(([resource, value]) => `${resource} ${amount(value)}`);
  if (perTrial.length) {
    lines.push(trans.__('each trial: %1', perTrial.join(', ')));
  }
  return lines.join('\n');
}

/** True when any of the trials reports the node it runs on (the node column is shown). */
export function anyTrialNode(trials: ReadonlyArray<ITrial>): boolean {
  return trials.some(trial => !!trial.node);
}

/** "node 10.0.0.2:4a1f2e07", or "" when the trial runs on no cluster node. */
export function trialNodeText(trial: ITrial): string {
  return trial.node ? trans.__('node %1', trial.node) : '';
}
