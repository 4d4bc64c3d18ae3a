import { describe, expect, it } from 'vitest';
import { runStatusLabel, waitingLabel } from './run-labels.ts';

describe('run labels', () => {
  it('a completed run with errors is "Finished with N errors", never "Done"', () => {
    expect(runStatusLabel({ status: 'completed', errors: 0 })).toBe('Done');
    expect(runStatusLabel({ status: 'completed', errors: 1 })).toBe('Finished with 1 error');
    expect(runStatusLabel({ status: 'completed', errors: 1234 })).toBe(
      'Finished with 1,234 errors',
    );
    expect(runStatusLabel({ status: 'running', errors: 3 })).toBe('Generating');
    expect(runStatusLabel({ status: 'failed', errors: 3 })).toBe('Failed');
  });

  it('says who rate limits the run and when it retries, in local time', () => {
    const waiting = {
      reason: 'rate-limited' as const,
      until: '2026-12-06T14:02:10.000Z',
      provider: 'p1',
      providerName: 'OpenAI prod',
      message: 'Rate limited by OpenAI prod, retrying at 14:02:10 UTC',
    };
    // The e2e config runs with TZ=UTC.
    expect(waitingLabel(waiting, 'en-GB')).toBe(
      'Rate limited by OpenAI prod, retrying at 14:02:10',
    );
    expect(waitingLabel({ ...waiting, providerName: null }, 'en-GB')).toBe(
      'Rate limited by the provider, retrying at 14:02:10',
    );
  });
});
