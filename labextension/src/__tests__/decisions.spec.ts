/** Unit tests of what the panel says of a deploy decision. */
import { englishTrans, substitute } from '../i18n';
import { EntityStore } from '../state/entities';
import {
  decisionFacts,
  decisionState,
  decisionTitle,
  pValueText
} from '../state/decisions';
import { decision, deployment, model } from './fixtures';

describe('decisionState', () => {
  it('tells deployed, refused and a deploy by hand past the gate apart', () => {
    expect(decisionState(decision(1, '1-1', { deployed: true }))).toBe(
      'deployed'
    );
    expect(decisionState(decision(1, '1-1'))).toBe('refused');
    expect(
      decisionState(
        decision(1, '1-1', { kind: 'manual', deployed: true, bypassed: true })
      )
    ).toBe('bypassed');
  });
});

describe('decisionFacts', () => {
  it('gives p, b/c and n of a paired test', () => {
    expect(decisionFacts(decision(1, '1-1'), englishTrans)).toEqual([
      'p = 0.3',
      'b/c = 9/6',
      'n = 180'
    ]);
    const big = decision(1, '1-1', { n: 10000, p_value: 0.00001, b: 40, c: 2 });
    expect(decisionFacts(big, englishTrans)).toEqual([
      'p < 0.0001',
      'b/c = 40/2',
      'n = 10,000'
    ]);
  });

  it('gives nothing when no test was made', () => {
    const first = decision(1, '1-0', {
      reason: 'deployed: nothing was deployed yet (test_accuracy 90.0%)',
      deployed: true,
      champion_id: null,
      n: null,
      b: null,
      c: null,
      p_value: null,
      test: null,
      alpha: null
    });
    expect(decisionFacts(first, englishTrans)).toEqual([]);
    expect(decisionTitle(first, englishTrans)).toBe('Deploy gate: significant');
  });

  it('writes p-values as the hub does', () => {
    expect(pValueText(0.2134)).toBe('p = 0.21');
    expect(pValueText(0.05)).toBe('p = 0.05');
    expect(pValueText(0.00004)).toBe('p < 0.0001');
  });
});

describe('decisionTitle', () => {
  it('names the champion and the numbers in words', () => {
    expect(decisionTitle(decision(1, '1-1'), englishTrans)).toBe(
      'Deploy gate: significant; judged against model 1-0; ' +
        'b: examples only this model got right (9); c: only the champion (6); alpha 0.05'
    );
  });
});

describe('decisions in the entity store', () => {
  it("shows a deploy by hand's decision on its model", () => {
    const store = new EntityStore();
    const auto = decision(1, '1-1');
    store.applyEvent({
      type: 'model',
      action: 'stored',
      model: model('1-1', { decision: auto })
    });
    const manual = decision(2, '1-1', {
      kind: 'manual',
      deployed: true,
      bypassed: true,
      reason: 'deployed by hand: the gate was bypassed'
    });
    store.applyDeployment(deployment(3, '1-1', 'manual', { decision: manual }));
    expect(store.models[0].decision).toEqual(manual);
    expect(store.models[0].deployed).toBe(true);
    // an older decision never replaces a newer one
    store.applyDeployment(deployment(3, '1-1', 'manual', { decision: auto }));
    expect(store.models[0].decision).toEqual(manual);
  });
});

describe('substitute', () => {
  it('fills %1, %2 and keeps %% and missing arguments', () => {
    expect(substitute('%2 of %1', [3, 1])).toBe('1 of 3');
    expect(substitute('100%% of %1', ['it'])).toBe('100% of it');
    expect(substitute('%1 and %2', ['a'])).toBe('a and %2');
  });
});
