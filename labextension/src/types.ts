/**
 * Types mirroring docs/API.md. JSON keys stay snake_case, as the server sends them.
 */

/** A JSON object, e.g. a grid conf or a worker's declared defaults. */
export type JSONObject = { [key: string]: any };

/** Worker status as reported by the hub. */
export type WorkerStatus = 'idle' | 'busy' | 'offline';

/** A notebook that registered itself as a training worker. */
export interface IWorker {
  id: number;
  name: string;
  notebook: string;
  online: boolean;
  last_seen: string;
  defaults: JSONObject;
  device: string;
  versions: JSONObject;
  status: WorkerStatus;
  current_job: number | null;
  current_trial: string | null;
  /** The scoped token it connected with (null: the Jupyter credential). */
  token_id?: number | null;
  /** True in the `worker` event of a worker that was just forgotten (it leaves the list). */
  forgotten?: boolean;
  /** How many trials it runs at once (1 for a plain notebook worker). */
  capacity?: number;
  /** What a cluster's worker (a Ray executor) says of its cluster; null for a plain one. */
  cluster?: IWorkerCluster | null;
}

/** One node of a worker's cluster. */
export interface IClusterNode {
  /** Its address and the first 8 hex digits of its Ray node id. */
  node: string;
  alive?: boolean;
  CPU?: number;
  GPU?: number;
}

/** A worker's cluster, as its `hello` and `capacity` events describe it (docs/API.md). */
export interface IWorkerCluster {
  engine?: string;
  ray?: string;
  address?: string;
  nodes_alive?: number;
  nodes?: IClusterNode[];
  resources_total?: { [resource: string]: number };
  resources_available?: { [resource: string]: number };
  per_trial?: { [resource: string]: number };
  trials_running?: number;
  updated?: string;
}

/** What a scoped token may be used for. */
export type TokenScope = 'worker' | 'predict';

/** A scoped token as `GET /tokens` lists it (never its secret). */
export interface IToken {
  id: number;
  name: string;
  scope: TokenScope;
  created: string;
  last_used: string | null;
  /** When it was revoked, or null while it is valid. */
  revoked: string | null;
}

/** Answer of `POST /tokens`: the secret, shown once, and the lines to paste where it is used. */
export interface IIssuedToken {
  token: IToken;
  secret: string;
  setup: string[];
}

/** Something wrong (error) or worth knowing (warning) about a conf. */
export interface IProblem {
  key: string | null;
  message: string;
}

/** Answer of `POST /grid/validate`. */
export interface IGridValidation {
  valid: boolean;
  conf: JSONObject;
  trial_count: number;
  trials: JSONObject[];
  warnings: IProblem[];
  errors: IProblem[];
}

/**
 * `queued`: no trial running; `finished`: every trial ended, one or more finished;
 * `failed`: every trial failed.
 */
export type JobStatus =
  'queued' | 'running' | 'finished' | 'failed' | 'cancelled';

/** `pruned`: final; the search's pruner stopped the trial early (it has no model). */
export type TrialStatus =
  'pending' | 'running' | 'finished' | 'failed' | 'cancelled' | 'pruned';

/**
 * One grid point of a job. Trials are leased to workers one at a time, so the trials of one
 * job may run on several workers.
 */
export interface ITrial {
  id: string;
  job_id: number;
  index: number;
  params: JSONObject;
  status: TrialStatus;
  /** The lease holder, or the last one; null while never leased. */
  worker_id: number | null;
  worker_name: string | null;
  /** How many times the trial was leased (0 while never leased). */
  attempt: number;
  started: string | null;
  finished: string | null;
  /** Why it failed, or why it was re-queued (while `pending`). */
  error: string | null;
  model_id: string | null;
  epoch: number | null;
  epochs: number | null;
  batch: number | null;
  batches: number | null;
  metrics: { [name: string]: number };
  /** Epoch of the trial's last stored checkpoint. */
  checkpoint_epoch: number | null;
  /** Epoch the current attempt resumed from (it loaded a checkpoint). */
  resumed_from_epoch: number | null;
  /** The cluster node its current attempt runs on (a cluster's worker), else null. */
  node?: string | null;
}

/**
 * A grid search. `worker` is the requested one ("any" or a name); which worker runs what is
 * on its trials. `trials` only comes with `GET /jobs/{id}` and events.
 */
export interface IJob {
  id: number;
  worker: string;
  conf: JSONObject;
  status: JobStatus;
  error: string | null;
  created: string;
  started: string | null;
  finished: string | null;
  trial_count: number;
  trials_done: number;
  progress: number;
  cancel_requested: boolean;
  /** The distinct workers that hold or held its trials' leases, in trial order. */
  workers: string[];
  /** Whether it has failed trials that `POST /jobs/{id}/retry` would re-queue. */
  retryable: boolean;
  trials?: ITrial[];
}

/** Job states after which nothing changes any more. */
export const FINAL_JOB_STATES: ReadonlyArray<JobStatus> = [
  'finished',
  'failed',
  'cancelled'
];

export type LogStream = 'stdout' | 'stderr' | 'system';

/** One persisted log line; `seq` is the cursor. */
export interface ILogLine {
  seq: number;
  job_id: number;
  trial_id: string | null;
  time: string;
  stream: LogStream;
  text: string;
}

/** One persisted metric value. */
export interface IMetricPoint {
  seq: number;
  job_id: number;
  trial_id: string;
  name: string;
  step: number;
  value: number;
  time: string;
  /** The trial's lease (attempt) that reported it; a resumed attempt reports its steps again. */
  attempt?: number;
}

/** Answer of `GET /jobs/{id}/logs`. */
export interface ILogPage {
  job_id: number;
  lines: ILogLine[];
  last_seq: number | null;
}

/** Answer of `GET /jobs/{id}/metrics`. */
export interface IMetricPage {
  job_id: number;
  points: IMetricPoint[];
  last_seq: number | null;
}

export type SearchMethod = 'grid' | 'random' | 'tpe';

export type SearchDirection = 'maximize' | 'minimize';

/** A job's search settings, as `GET /jobs/{id}/search` reports them. */
export interface ISearchSettings {
  method: SearchMethod;
  /** The objective: a metric name of the trials. */
  metric: string;
  direction: SearchDirection;
  /** Most trials to run (null: no budget; a grid runs every point). */
  budget: number | null;
  parallel: number | null;
  pruner: { type: string; [setting: string]: any } | null;
}

/** The best trial so far by the search's metric and direction. */
export interface ISearchBest {
  trial_id: string;
  value: number;
}

/** Answer of `GET /jobs/{id}/search`; `importance` is {} when none can be computed yet. */
export interface ISearchSummary {
  search: ISearchSettings;
  best: ISearchBest | null;
  importance: { [param: string]: number };
}

/** Which rule judged a model: the metric alone, or better beyond chance (paired test). */
export type DeployGate = 'better' | 'significant';

/**
 * The deploy gate's decision on a model against the champion (the deployed model) of that
 * moment: `auto` when the model was stored, `manual` when it was deployed by hand. `reason`
 * is the sentence that says why; the paired test's numbers (`n` examples, `b` discordant
 * pairs the model got right, `c` those the champion got right, `p_value`) are null when no
 * test was made.
 */
export interface IDecision {
  id: number;
  model_id: string;
  time: string;
  kind: 'auto' | 'manual';
  deployed: boolean;
  /** A manual deploy the gate would have refused. */
  bypassed: boolean;
  gate: DeployGate | string;
  reason: string;
  metric: string | null;
  value: number | null;
  champion_id: string | null;
  champion_value: number | null;
  n: number | null;
  b: number | null;
  c: number | null;
  p_value: number | null;
  /** e.g. "mcnemar-exact". */
  test: string | null;
  alpha: number | null;
}

/** A stored model (one per trial). */
export interface IModel {
  id: string;
  job_id: number;
  trial_id: string;
  worker: string;
  sha1: string;
  sha256: string;
  size: number;
  param_count: number;
  metrics: JSONObject;
  hyperparameters: JSONObject;
  classes: string[];
  input_size: number[];
  normalization: JSONObject;
  program: string;
  created: string;
  deployed: boolean;
  /** Why its file cannot be used (missing, or not its sha256); never served or deployed. */
  damaged?: string | null;
  /** A model file of the first format: listed, never loaded, served or deployed. */
  legacy?: boolean;
  /** Its per-example test results in short (null: none, so the gate cannot pair it). */
  evaluation?: { n: number; fingerprint: string } | null;
  /** The newest deploy decision on it (null: none recorded, e.g. stored before the gate). */
  decision?: IDecision | null;
}

/** Models of one job, as grouped by `GET /models`. */
export interface IModelGroup {
  job_id: number;
  model_ids: string[];
}

/** Answer of `GET /models`. */
export interface IModelList {
  models: IModel[];
  groups: IModelGroup[];
}

/** One deployment (a history row; the newest is what is deployed). */
export interface IDeployment {
  id: number;
  model_id: string;
  sha1: string;
  sha256: string;
  time: string;
  reason: 'auto' | 'manual';
  metric: string | null;
  metric_value: number | null;
  model: IModel | null;
  /** The decision that led to it (null for deployments recorded before the gate). */
  decision?: IDecision | null;
}

/** What the hub serves on `/mlops/api/predict` (`GET /predict`). */
export interface IServing {
  model: {
    model_id: string | null;
    deployment_id: number | null;
    sha1: string;
    sha256: string;
    classes: string[];
  } | null;
  last_error: string | null;
}

/**
 * Types of the messages the hub sends to subscribers of `/mlops/api/ws/events`; the same
 * names, in the same order, as `SUBSCRIBER_TYPES` in `jupyter_mlops/messages.py`.
 */
export const SUBSCRIBER_MESSAGE_TYPES = [
  'worker',
  'job',
  'log',
  'metric',
  'model',
  'deployment',
  'serving'
] as const;

export type SubscriberMessageType = (typeof SUBSCRIBER_MESSAGE_TYPES)[number];

/** The payload of each subscriber message type (every type must have one). */
export interface IEventPayloads {
  worker: { worker: IWorker };
  job: { job: IJob };
  log: { job_id: number; lines: ILogLine[] };
  metric: { job_id: number; points: IMetricPoint[] };
  model: { action: 'stored' | 'cleared'; model: IModel | null };
  deployment: { deployment: IDeployment | null };
  serving: { serving: IServing };
}

/** Messages of the events websocket `/mlops/api/ws/events`. */
export type EventMessage = {
  [K in SubscriberMessageType]: { type: K } & IEventPayloads[K];
}[SubscriberMessageType];

/** Whether a parsed frame is a message of one of the subscriber types. */
export function isEventMessage(value: unknown): value is EventMessage {
  const type = (value as { type?: unknown } | null)?.type;
  return (SUBSCRIBER_MESSAGE_TYPES as ReadonlyArray<unknown>).includes(type);
}

/**
 * State of the events websocket. `refused`: the server turned the socket away (not signed
 * in, or no longer); the client stopped retrying.
 */
export type ConnectionState =
  'connecting' | 'open' | 'reconnecting' | 'refused' | 'closed';
