import { describe, expect, it } from 'vitest';
import type { LlmMessage } from '../llm/llm-provider.ts';
import { contextWindowOf, DEFAULT_CONTEXT_WINDOW, fitContext } from './chat-context-fit.ts';

// Fitting a context to a window: system messages always kept, turns dropped oldest first,
// the question always sent; counts are the tokenizer's, scaled up (an upper bound).
const system: LlmMessage[] = [{ role: 'system', content: 'Always answer in French.' }];
const turn = (index: number, words: number): LlmMessage[] => [
  { role: 'user', content: `Question ${index}: ${'walking tour '.repeat(words)}` },
];

describe('fitContext', () => {
  it('sends everything when it fits', async () => {
    const fitted = await fitContext(
      { system, turns: [turn(0, 5), turn(1, 5)] },
      { window: 10_000, outputReserve: 1_000 },
    );
    expect(fitted.dropped).toBe(0);
    expect(fitted.messages).toHaveLength(3);
  });

  it('drops the oldest turns first and never the instructions', async () => {
    const turns = Array.from({ length: 10 }, (_, index) => turn(index, 100));
    const fitted = await fitContext({ system, turns }, { window: 1_200, outputReserve: 500 });
    expect(fitted.dropped).toBeGreaterThan(0);
    expect(fitted.messages[0]).toEqual(system[0]);
    const sent = fitted.messages.slice(1).map((message) => String(message.content));
    expect(sent.at(-1)).toContain('Question 9:');
    expect(sent.some((text) => text.includes('Question 0:'))).toBe(false);
    expect(fitted.tokens).toBeLessThanOrEqual(700);
  });

  it('keeps the question even when it alone is over the budget', async () => {
    const fitted = await fitContext(
      { system, turns: [turn(0, 5), turn(1, 2_000)] },
      { window: 1_000, outputReserve: 500 },
    );
    expect(fitted.dropped).toBe(1);
    expect(String(fitted.messages.at(-1)!.content)).toContain('Question 1:');
  });

  it('counts tool definitions against the budget', async () => {
    const turns = Array.from({ length: 6 }, (_, index) => turn(index, 40));
    const tools = [
      {
        name: 'query_sheet',
        description: 'x'.repeat(2_000),
        inputSchema: { type: 'object', properties: {} },
      },
    ];
    const without = await fitContext({ system, turns }, { window: 1_500, outputReserve: 500 });
    const withTools = await fitContext(
      { system, turns },
      { window: 1_500, outputReserve: 500, tools },
    );
    expect(withTools.dropped).toBeGreaterThan(without.dropped);
  });
});

describe('contextWindowOf', () => {
  it('knows catalog models and nothing about unknown ones (the caller uses the default)', () => {
    expect(contextWindowOf('gpt-4o-mini')).toBeGreaterThan(DEFAULT_CONTEXT_WINDOW);
    expect(contextWindowOf('my-local-model-7b')).toBeUndefined();
  });
});
