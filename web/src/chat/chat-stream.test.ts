import { describe, expect, it } from 'vitest';
import type { ChatMessage } from './chat-api.ts';
import { applyDelta, pruneSettled, shownText } from './chat-stream.ts';

const message = (id: string, content: string, status: ChatMessage['status']) =>
  ({ id, content, status }) as ChatMessage;

describe('streamed reply text', () => {
  it('appends, resolves overlaps with a loaded row, and restarts at offset 0', () => {
    const loaded = [message('a', 'Hello wor', 'streaming')];
    let texts = applyDelta(new Map(), loaded, { messageId: 'a', offset: 6, text: 'world' });
    expect(texts.get('a')).toBe('Hello world');
    texts = applyDelta(texts, loaded, { messageId: 'a', offset: 11, text: '!' });
    expect(shownText(loaded[0]!, texts)).toBe('Hello world!');
    texts = applyDelta(texts, loaded, { messageId: 'a', offset: 0, text: 'Hi' });
    expect(texts.get('a')).toBe('Hi');
  });

  it('ignores a delta past the end it knows, and shows the row once it settled', () => {
    const loaded = [message('a', 'abc', 'streaming')];
    const texts = applyDelta(new Map(), loaded, { messageId: 'a', offset: 10, text: 'x' });
    expect(texts.size).toBe(0);
    const streamed = applyDelta(texts, loaded, { messageId: 'a', offset: 3, text: 'def' });
    const settled = [message('a', 'abcdef and more', 'done')];
    expect(shownText(settled[0]!, streamed)).toBe('abcdef and more');
    expect(pruneSettled(streamed, settled).size).toBe(0);
    expect(pruneSettled(streamed, loaded)).toBe(streamed);
  });
});
