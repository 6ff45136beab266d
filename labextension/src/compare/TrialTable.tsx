import React, { useMemo, useState } from 'react';

import type { ITrial } from '../types';
import {
  buildColumns,
  buildRows,
  filterRows,
  IFilterState,
  ISortState,
  nextSort,
  sortRows
} from './table';
import { TRIAL_STATES } from './trials';

/** Props of the trials table. */
export interface ITrialTableProps {
  trials: ReadonlyArray<ITrial>;
  /** The search's metric: its column comes first among the metrics. */
  objective: string;
  bestId: string | null;
  /** The current time, for the durations of running trials. */
  now: number;
}

/**
 * Every trial of the job: id, status, worker, hyperparameters, final metrics, duration and
 * the epoch a pruned trial stopped at. A click on a header sorts (ascending, descending,
 * off); a text box and a status select filter the rows. The best trial is highlighted.
 */
export function TrialTable(props: ITrialTableProps): JSX.Element {
  const { trials, objective, bestId, now } = props;
  const [sort, setSort] = useState<ISortState | null>(null);
  const [filter, setFilter] = useState<IFilterState>({
    text: '',
    status: 'all'
  });
  const columns = useMemo(
    () => buildColumns(trials, objective),
    [trials, objective]
  );
  const rows = useMemo(
    () =>
      sortRows(
        filterRows(buildRows(trials, columns, bestId, now), filter),
        sort
      ),
    [trials, columns, bestId, now, filter, sort]
  );
  const counts = new Map<string, number>();
  for (const trial of trials) {
    counts.set(trial.status, (counts.get(trial.status) ?? 0) + 1);
  }
  return (
    <div className="jp-mlops-compare-table-box">
      <div className="jp-mlops-compare-toolbar">
        <input
          className="jp-mlops-compare-filter"
          data-testid="mlops-compare-filter"
          type="search"
          placeholder="Filter trials (any column)"
          value={filter.text}
          onChange={event => setFilter({ ...filter, text: event.target.value })}
        />
        <select
          className="jp-mlops-compare-status-filter"
          data-testid="mlops-compare-status-filter"
          value={filter.status}
          onChange={event =>
            setFilter({
              ...filter,
              status: event.target.value as IFilterState['status']
            })
          }
        >
          <option value="all">all statuses ({trials.length})</option>
          {TRIAL_STATES.map(status => (
            <option key={status} value={status}>
              {status} ({counts.get(status) ?? 0})
            </option>
          ))}
        </select>
        <span className="jp-mlops-meta" data-testid="mlops-compare-row-count">
          {rows.length} of {trials.length} trials
        </span>
      </div>
      <div className="jp-mlops-compare-table-scroll">
        <table
          className="jp-mlops-compare-table"
          data-testid="mlops-compare-table"
        >
          <thead>
            <tr>
              {columns.map(column => {
                const sorted = sort?.key === column.key;
                return (
                  <th
                    key={column.key}
                    className={column.numeric ? 'jp-mlops-compare-num' : ''}
                    data-column={column.key}
                    aria-sort={
                      sorted
                        ? sort!.descending
                          ? 'descending'
                          : 'ascending'
                        : 'none'
                    }
                    title={`Sort by ${column.label}`}
                    onClick={() => setSort(nextSort(sort, column.key))}
                  >
                    {column.label}
                    <span className="jp-mlops-compare-sort">
                      {sorted ? (sort!.descending ? ' ▼' : ' ▲') : ''}
                    </span>
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {rows.map(row => (
              <tr
                key={row.trial.id}
                className={row.best ? 'jp-mlops-compare-best' : ''}
                data-testid="mlops-compare-row"
                data-trial-id={row.trial.id}
                data-status={row.trial.status}
                data-best={row.best ? 'true' : 'false'}
              >
                {columns.map(column => {
                  const cell = row.cells[column.key];
                  return (
                    <td
                      key={column.key}
                      className={column.numeric ? 'jp-mlops-compare-num' : ''}
                      data-column={column.key}
                    >
                      {column.kind === 'status' ? (
                        <span
                          className={`jp-mlops-badge jp-mlops-status-${cell.text}`}
                        >
                          {cell.text}
                        </span>
                      ) : (
                        cell.text
                      )}
                      {column.kind === 'trial' && row.best && (
                        <span
                          className="jp-mlops-badge jp-mlops-compare-best-badge"
                          data-testid="mlops-compare-best-badge"
                        >
                          best
                        </span>
                      )}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && (
          <div className="jp-mlops-muted jp-mlops-compare-none">
            {trials.length ? 'No trial matches the filters.' : 'No trials yet.'}
          </div>
        )}
      </div>
    </div>
  );
}
