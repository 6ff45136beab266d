/** RenderQueue: one render at a time, the latest spec wins, and each drawn spec is announced. */

jest.mock('@jupyterlab/rendermime', () => ({
  MimeModel: class {
    constructor(readonly options: any) {}
    get data(): any {
      return this.options.data;
    }
  }
}));
jest.mock('@lumino/widgets', () => ({ Widget: { attach: jest.fn() } }));

import { RenderQueue, specRows } from '../compare/VegaChart';
import { VEGALITE_MIME } from '../compare/specs';

/** A renderer whose renders resolve when the test says so. */
function fakeRenderer() {
  const pending: Array<() => void> = [];
  const drawnSpecs: any[] = [];
  return {
    pending,
    drawnSpecs,
    renderModel: jest.fn(
      (model: any) =>
        new Promise<void>(resolve => {
          pending.push(() => {
            drawnSpecs.push(model.data[VEGALITE_MIME]);
            resolve();
          });
        })
    )
  };
}

const spec = (n: number) => ({
  data: { values: Array.from({ length: n }, (_, i) => ({ i })) }
});

/** Let resolved promises run their callbacks. */
const flush = () => new Promise(resolve => setImmediate(resolve));

describe('RenderQueue', () => {
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate'] }));
  afterEach(() => jest.useRealTimers());

  it('counts the inline data rows of a spec', () => {
    expect(specRows(spec(3))).toBe(3);
    expect(specRows({ data: { url: 'x.json' } })).toBe(0);
    expect(specRows({})).toBe(0);
  });

  it('announces each spec once drawn, and draws only the latest of a burst', async () => {
    const renderer = fakeRenderer();
    const drawn: number[] = [];
    const queue = new RenderQueue(renderer, s => drawn.push(specRows(s)));
    queue.request(spec(1), 0);
    expect(renderer.renderModel).toHaveBeenCalledTimes(1);
    expect(drawn).toEqual([]); // not drawn until the renderer says so
    queue.request(spec(2), 0); // waits: one render at a time
    queue.request(spec(3), 0); // replaces the waiting one
    expect(renderer.renderModel).toHaveBeenCalledTimes(1);
    renderer.pending.shift()!();
    await flush();
    expect(drawn).toEqual([1]);
    jest.runOnlyPendingTimers(); // the throttle interval passes
    expect(renderer.renderModel).toHaveBeenCalledTimes(2);
    renderer.pending.shift()!();
    await flush();
    expect(drawn).toEqual([1, 3]);
    expect(renderer.drawnSpecs.map(specRows)).toEqual([1, 3]);
  });

  it('does not draw an unchanged spec again, but does after a layout change', async () => {
    const renderer = fakeRenderer();
    const drawn: number[] = [];
    const queue = new RenderQueue(renderer, s => drawn.push(specRows(s)));
    queue.request(spec(2), 0);
    renderer.pending.shift()!();
    await flush();
    jest.runOnlyPendingTimers();
    queue.request(spec(2), 0);
    jest.runOnlyPendingTimers();
    expect(renderer.renderModel).toHaveBeenCalledTimes(1);
    queue.request(spec(2), 1);
    jest.runOnlyPendingTimers();
    expect(renderer.renderModel).toHaveBeenCalledTimes(2);
  });

  it('announces nothing after it was disposed', async () => {
    const renderer = fakeRenderer();
    const drawn: number[] = [];
    const queue = new RenderQueue(renderer, s => drawn.push(specRows(s)));
    queue.request(spec(4), 0);
    queue.dispose();
    renderer.pending.shift()!();
    await flush();
    expect(drawn).toEqual([]);
  });
});
