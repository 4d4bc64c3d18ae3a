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
      </p>
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
