/** Unit tests of the event message types shared with jupyter_mlops/messages.py. */
import { isEventMessage, SUBSCRIBER_MESSAGE_TYPES } from '../types';

describe('SUBSCRIBER_MESSAGE_TYPES', () => {
  it('lists the hub-to-subscriber types of the Python protocol, in order', () => {
    expect(SUBSCRIBER_MESSAGE_TYPES).toEqual([
      'worker',
      'job',
      'log',
      'metric',
      'model',
      'deployment'
    ]);
  });

  it('tells subscriber messages from other frames', () => {
    for (const type of SUBSCRIBER_MESSAGE_TYPES) {
      expect(isEventMessage({ type })).toBe(true);
    }
    for (const frame of [null, 3, 'job', {}, { type: 'hello' }, { type: 1 }]) {
      expect(isEventMessage(frame)).toBe(false);
    }
  });
});
