import { useEffect, useReducer, useState } from 'react';

import { MLOpsModel } from '../model';

/** Re-render the calling component whenever the model changes. */
export function useModel(model: MLOpsModel): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const onChange = () => bump();
    model.changed.connect(onChange);
    return () => {
      model.changed.disconnect(onChange);
    };
  }, [model]);
}

/** The current time, refreshed every `intervalMs` (for "5 min ago" labels). */
export function useNow(intervalMs = 15000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
