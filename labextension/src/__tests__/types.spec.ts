/** Unit tests of the event message types (tests/unit/test_docs.py checks the list itself). */
import { isEventMessage, SUBSCRIBER_MESSAGE_TYPES } from '../types';

describe('SUBSCRIBER_MESSAGE_TYPES', () => {
  it('tells subscriber messages from other frames', () => {
    for (const type of SUBSCRIBER_MESSAGE_TYPES) {
      expect(isEventMessage({ type })).toBe(true);
    }
    for (const frame of [null, 3, 'job', {}, { type: 'hello' }, { type: 1 }]) {
      expect(isEventMessage(frame)).toBe(false);
    }
  });
});
