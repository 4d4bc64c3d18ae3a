import type { RunEstimate } from '../api/generation-api.ts';
import { formatDuration, formatInteger, formatNanoUsd } from '../ui/format.ts';

/** What a run will cost and take, before it starts. */
export function RunEstimateView({ estimate }: { estimate: RunEstimate }) {
  return (
    <div className="callout" role="status" data-testid="run-estimate">
      <p>
        <strong>{formatInteger(estimate.cells)}</strong> cells · about{' '}
        <strong>
          {estimate.costNano === null
            ? 'an unknown cost (no price for this model)'
            : formatNanoUsd(estimate.costNano)}
        </strong>{' '}
        · about {formatDuration(estimate.durationSeconds)} at {estimate.concurrency} at once
        {estimate.concurrencyLimitedBy === 'server' ? ' (the server’s limit)' : ''}
      </p>
      {estimate.cache === 'bypass' && (
        <p className="muted" data-testid="run-estimate-cache">
          Asks the model again for every cell (the cache is skipped, so answers are new).
        </p>
      )}
      {estimate.cache === 'use' && (estimate.expectedCacheHits ?? 0) > 0 && (
        <p className="muted" data-testid="run-estimate-cache">
          {formatInteger(estimate.expectedCacheHits ?? 0)} of {formatInteger(estimate.cells)} cells
          are expected from the cache (no cost, no wait); {formatInteger(estimate.modelCalls ?? 0)}{' '}
          calls to the model.
        </p>
      )}
      <p className="muted">
        ~{formatInteger(estimate.inputTokensPerCell)} input and ~
        {formatInteger(estimate.outputTokensPerCell)} output tokens per cell (
        {estimate.basis.outputTokens === 'observed'
          ? 'from cells generated so far'
          : 'a default guess'}
        ), from {estimate.sampled} sample rows.
      </p>
      {estimate.confirmationRequired && (
        <p className="form-error">
          Above the confirmation threshold of {formatNanoUsd(estimate.confirmAboveNano)}: starting
          needs your confirmation.
        </p>
      )}
    </div>
  );
}
