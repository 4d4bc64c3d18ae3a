import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { firstEvent } from './first-event.ts';

describe('firstEvent', () => {
  it('resolves on whichever event comes first and leaves no listener behind', async () => {
    const emitter = new EventEmitter();
    let settled = false;
    const first = firstEvent(emitter, ['drain', 'close']).then(() => {
      settled = true;
    });
    expect(emitter.listenerCount('drain')).toBe(1);
    expect(emitter.listenerCount('close')).toBe(1);
    emitter.emit('other');
    await Promise.resolve();
    expect(settled).toBe(false);
    emitter.emit('close');
    await first;
    expect(settled).toBe(true);
    expect(emitter.listenerCount('drain')).toBe(0);
    expect(emitter.listenerCount('close')).toBe(0);
  });
});
