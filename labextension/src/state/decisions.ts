/**
 * What the panel says of a deploy decision (see `IDecision`): its state, and the paired
 * test's numbers in short.
 */
import { ITrans } from '../i18n';
import { IDecision } from '../types';

/**
 * `deployed` (by the gate, or by hand with the gate agreeing), `bypassed` (by hand, past a
 * gate that refused it) or `refused` (stored, not deployed).
 */
export type DecisionState = 'deployed' | 'bypassed' | 'refused';

export function decisionState(decision: IDecision): DecisionState {
  if (decision.bypassed) {
    return 'bypassed';
  }
  return decision.deployed ? 'deployed' : 'refused';
}

/** "p = 0.21", "p < 0.0001", as the hub's sentences write it. */
export function pValueText(p: number): string {
  if (p < 1e-4) {
    return 'p < 0.0001';
  }
  return `p = ${Number(p.toPrecision(2))}`;
}

/** A number of examples with thousands separators: "10,000". */
export function exampleCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** The paired test's numbers that are known, in short: ["p = 0.21", "b/c = 9/6", "n = 500"]. */
export function decisionFacts(decision: IDecision, trans: ITrans): string[] {
  const facts: string[] = [];
  const number = (value: unknown): value is number =>
    typeof value === 'number' && isFinite(value);
  if (number(decision.p_value)) {
    facts.push(pValueText(decision.p_value));
  }
  if (number(decision.b) && number(decision.c)) {
    facts.push(trans.__('b/c = %1/%2', decision.b, decision.c));
  }
  if (number(decision.n)) {
    facts.push(trans.__('n = %1', exampleCount(decision.n)));
  }
  return facts;
}

/** A tooltip naming the paired test's numbers in words. */
export function decisionTitle(decision: IDecision, trans: ITrans): string {
  const parts = [
    decision.kind === 'manual'
      ? trans.__('Deployed by hand')
      : trans.__('Deploy gate: %1', decision.gate)
  ];
  if (decision.champion_id) {
    parts.push(trans.__('judged against model %1', decision.champion_id));
  }
  if (typeof decision.b === 'number' && typeof decision.c === 'number') {
    parts.push(
      trans.__(
        'b: examples only this model got right (%1); c: only the champion (%2)',
        decision.b,
        decision.c
      )
    );
  }
  if (typeof decision.alpha === 'number') {
    parts.push(trans.__('alpha %1', decision.alpha));
  }
  return parts.join('; ');
}
