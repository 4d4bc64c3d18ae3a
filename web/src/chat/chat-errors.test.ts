import { describe, expect, it } from 'vitest';
import { replyErrorText } from './chat-errors.ts';

describe('replyErrorText', () => {
  it('names the budget that stopped a reply, its limit and the spend', () => {
    expect(
      replyErrorText({
        code: 'BUDGET_EXCEEDED',
        message: "This call would exceed the project's daily LLM budget",
        retryable: false,
        details: { scope: 'project', period: 'day', limitNano: 5e9, spentNano: 4_990_000_000 },
      }),
    ).toEqual({
      title: 'Budget reached',
      text: "The project's daily LLM budget of $5.00 ($4.99 spent) would be exceeded by this reply, so nothing was sent to the model. An owner can raise it in Settings → Budgets, or try again next day.",
    });
    expect(
      replyErrorText({
        code: 'BUDGET_EXCEEDED',
        message: 'm',
        retryable: false,
        details: { scope: 'user', period: 'total', limitNano: 1, spentNano: 0 },
      }).text,
    ).toMatch(/^Your total LLM budget of \$0\.000000 \(\$0\.00 spent\) .*Settings → Budgets\.$/);
  });

  it('keeps the message of a budget error without details, and of any other error', () => {
    expect(
      replyErrorText({ code: 'BUDGET_EXCEEDED', message: 'Over budget', retryable: false }),
    ).toEqual({ title: 'Budget reached', text: 'Over budget. Nothing was sent to the model.' });
    expect(
      replyErrorText({ code: 'PROVIDER_ERROR', message: 'Bad request', retryable: false }),
    ).toEqual({ title: 'PROVIDER_ERROR', text: 'Bad request' });
  });
});
