import { formatNanoUsd } from '../ui/format.ts';
import type { ReplyError } from './chat-api.ts';

const PERIODS: Record<string, string> = {
  day: 'daily',
  week: 'weekly',
  month: 'monthly',
  total: 'total',
};
const SCOPES: Record<string, string> = {
  project: "The project's",
  user: 'Your',
  'gateway-key': "This gateway key's",
};

/**
 * What a failed reply says in the thread. A reply a budget stopped says which budget, its
 * limit and what is spent, that nothing was sent to the model, and where the budget is set;
 * any other error is its code and message.
 */
export function replyErrorText(error: ReplyError): { title: string; text: string } {
  if (error.code !== 'BUDGET_EXCEEDED') return { title: error.code, text: error.message };
  const details = error.details;
  if (!details)
    return { title: 'Budget reached', text: `${error.message}. Nothing was sent to the model.` };
  const which = `${SCOPES[details.scope] ?? "The project's"} ${PERIODS[details.period] ?? details.period} LLM budget`;
  const limit =
    details.limitNano === null
      ? ''
      : ` of ${formatNanoUsd(details.limitNano)} (${formatNanoUsd(details.spentNano)} spent)`;
  return {
    title: 'Budget reached',
    text: `${which}${limit} would be exceeded by this reply, so nothing was sent to the model. An owner can raise it in Settings → Budgets${details.period === 'total' ? '' : `, or try again next ${details.period}`}.`,
  };
}
