/** The compare view's trials table (columns, cells, filter, sort) and its trial helpers. */
import {
  buildColumns,
  buildRows,
  filterRows,
  formatDuration,
  formatParam,
  nextSort,
  sortRows
} from '../compare/table';
import {
  bestFinished,
  bestTrial,
  mergeTrials,
  searchSettings
} from '../compare/trials';
import { searchTrials, summary } from './compare-fixtures';
import { trial } from './fixtures';

const NOW = Date.parse('2026-01-01T00:05:00Z');

describe('trials table', () => {
  const trials = searchTrials();
  const columns = buildColumns(trials, 'test_accuracy');
  const rows = buildRows(trials, columns, '7-1', NOW);
  const cells = (id: string) => rows.find(r => r.trial.id === id)!.cells;

  it('has a column per hyperparameter and per numeric metric, objective first', () => {
    expect(columns.map(c => c.key)).toEqual([
      'trial',
      'status',
      'worker',
      'param:LEARNING_RATE',
      'param:OPTIMIZER',
      'param:BATCH_SIZE',
      'metric:test_accuracy',
      'metric:test_loss',
      'duration',
      'pruned'
    ]);
    expect(columns.find(c => c.key === 'param:OPTIMIZER')!.numeric).toBe(false);
    const loss = buildColumns(trials, 'test_loss').filter(
      c => c.kind === 'metric'
    );
    expect(loss.map(c => c.name)).toEqual(['test_loss', 'test_accuracy']);
  });

  it('leaves out structured metrics', () => {
    const t = trial(1, 0, {
      metrics: { acc: 0.5, per_class_accuracy: { a: 1 } as any }
    });
    expect(
      buildColumns([t], 'acc')
        .filter(c => c.kind === 'metric')
        .map(c => c.name)
    ).toEqual(['acc']);
  });

  it('shows the cells: worker, params, metrics (NaN), duration, pruned at', () => {
    expect(cells('7-0').worker.text).toBe('w1');
    expect(cells('7-0')['param:LEARNING_RATE'].text).toBe('0.1');
    expect(cells('7-0')['metric:test_accuracy']).toEqual({
      text: '81.0%',
      sort: 0.81
    });
    expect(cells('7-1')['metric:test_loss']).toEqual({
      text: 'NaN',
      sort: null
    });
    expect(cells('7-2')['metric:test_loss']).toEqual({ text: '', sort: null });
    expect(cells('7-0').duration).toEqual({ text: '2 min 05 s', sort: 125 });
    expect(cells('7-3').duration.sort).toBe(60);
    expect(cells('7-2').pruned).toEqual({ text: '2/5', sort: 2 });
    expect(cells('7-0').pruned.text).toBe('');
    expect(rows.map(r => r.best)).toEqual([false, true, false, false]);
  });

  it('formats params and durations', () => {
    expect(formatParam(0.0031622776601683794)).toBe('0.003162');
    expect(formatParam(64)).toBe('64');
    expect(formatParam(true)).toBe('true');
    expect(formatParam(undefined)).toBe('');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(7620)).toBe('2 h 07 min');
    expect(formatDuration(null)).toBe('');
  });

  it('filters by any cell and by status', () => {
    const ids = (list: typeof rows) => list.map(r => r.trial.id);
    expect(ids(filterRows(rows, { text: 'ADAM', status: 'all' }))).toEqual([
      '7-1',
      '7-2'
    ]);
    expect(ids(filterRows(rows, { text: 'w2', status: 'all' }))).toEqual([
      '7-1',
      '7-3'
    ]);
    expect(ids(filterRows(rows, { text: '', status: 'pruned' }))).toEqual([
      '7-2'
    ]);
    expect(ids(filterRows(rows, { text: 'nan', status: 'finished' }))).toEqual([
      '7-1'
    ]);
    expect(filterRows(rows, { text: 'adam', status: 'running' })).toEqual([]);
  });

  it('sorts by a column either way, empty cells last', () => {
    const ids = (key: string, descending: boolean) =>
      sortRows(rows, { key, descending }).map(r => r.trial.id);
    expect(ids('metric:test_accuracy', true)).toEqual([
      '7-1',
      '7-0',
      '7-2',
      '7-3'
    ]);
    expect(ids('metric:test_accuracy', false)).toEqual([
      '7-2',
      '7-0',
      '7-1',
      '7-3'
    ]);
    expect(ids('param:OPTIMIZER', false)).toEqual(['7-1', '7-2', '7-0', '7-3']);
    expect(ids('duration', false)).toEqual(['7-2', '7-1', '7-3', '7-0']);
    expect(sortRows(rows, null).map(r => r.trial.id)).toEqual([
      '7-0',
      '7-1',
      '7-2',
      '7-3'
    ]);
  });

  it('cycles a header click: ascending, descending, off', () => {
    const a = nextSort(null, 'trial');
    expect(a).toEqual({ key: 'trial', descending: false });
    const b = nextSort(a, 'trial');
    expect(b).toEqual({ key: 'trial', descending: true });
    expect(nextSort(b, 'trial')).toBeNull();
    expect(nextSort(b, 'status')).toEqual({ key: 'status', descending: false });
  });
});

describe('trial helpers', () => {
  it('merges trial updates by id, a snapshot never reviving a final trial', () => {
    const held = new Map(searchTrials().map(t => [t.id, t]));
    const delta = [{ ...held.get('7-3')!, status: 'finished' as const }];
    const merged = mergeTrials(held, delta);
    expect(merged.size).toBe(4);
    expect(merged.get('7-3')!.status).toBe('finished');
    expect(merged.get('7-0')).toBe(held.get('7-0'));
    const stale = [
      { ...held.get('7-3')!, status: 'running' as const, epoch: 2 }
    ];
    expect(mergeTrials(merged, stale, true).get('7-3')!.status).toBe(
      'finished'
    );
    expect(mergeTrials(merged, stale, false).get('7-3')!.status).toBe(
      'running'
    );
  });

  it('takes the search settings from the server, else the conf, else a grid', () => {
    expect(searchSettings(summary(), {}).method).toBe('tpe');
    const conf = {
      LR: [1, 2],
      search: {
        method: 'random',
        metric: 'loss',
        direction: 'minimize',
        pruner: 'asha'
      }
    };
    expect(searchSettings(null, conf)).toMatchObject({
      method: 'random',
      metric: 'loss',
      direction: 'minimize',
      pruner: { type: 'asha' }
    });
    expect(searchSettings(null, { LR: [1, 2] })).toMatchObject({
      method: 'grid',
      metric: 'test_accuracy',
      direction: 'maximize'
    });
  });

  it('finds the best finished trial by the metric and direction', () => {
    const trials = searchTrials();
    const max = searchSettings(summary(), {});
    expect(bestFinished(trials, max)).toEqual({ trial_id: '7-1', value: 0.93 });
    const min = { ...max, metric: 'test_loss', direction: 'minimize' as const };
    // 7-1's test_loss is NaN: only 7-0 counts.
    expect(bestFinished(trials, min)).toEqual({ trial_id: '7-0', value: 0.6 });
  });

  it("prefers the server's best unless a trial finished since is better", () => {
    const trials = searchTrials();
    const s = summary({ best: { trial_id: '7-9', value: 0.95 } });
    expect(bestTrial(trials, s.search, s)).toEqual({
      trial_id: '7-9',
      value: 0.95
    });
    const stale = summary({ best: { trial_id: '7-0', value: 0.81 } });
    expect(bestTrial(trials, stale.search, stale)!.trial_id).toBe('7-1');
    const none = summary({ best: null });
    expect(bestTrial(trials, none.search, none)!.trial_id).toBe('7-1');
    expect(bestTrial([], none.search, none)).toBeNull();
  });
});
