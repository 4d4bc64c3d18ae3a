import { AppError, type ErrorCode } from '../platform/app-error.ts';
import type { FailureKind, ProviderFailure } from './llm-provider.ts';

const CODE_BY_KIND: Record<FailureKind, ErrorCode> = {
  'rate-limited': 'RATE_LIMITED',
  overloaded: 'PROVIDER_UNAVAILABLE',
  'server-error': 'PROVIDER_UNAVAILABLE',
  network: 'PROVIDER_UNAVAILABLE',
  'malformed-response': 'PROVIDER_UNAVAILABLE',
  'circuit-open': 'PROVIDER_UNAVAILABLE',
  timeout: 'TIMEOUT',
  authentication: 'PROVIDER_ERROR',
  permission: 'PROVIDER_ERROR',
  'model-not-found': 'PROVIDER_ERROR',
  'bad-request': 'PROVIDER_ERROR',
  'content-filter': 'PROVIDER_ERROR',
  'invalid-output': 'PROVIDER_ERROR',
  aborted: 'PROVIDER_ERROR',
  unknown: 'PROVIDER_ERROR',
};

export function errorCodeFor(kind: FailureKind): ErrorCode {
  return CODE_BY_KIND[kind];
}

/** The AppError a failed call throws: safe message, no prompt, no key. */
export function callError(failure: ProviderFailure, details: Record<string, unknown>): AppError {
  const code = errorCodeFor(failure.kind);
  const retryAfterSeconds =
    failure.retryAfterMs === undefined
      ? undefined
      : Math.max(1, Math.ceil(failure.retryAfterMs / 1000));
  return new AppError(code, failure.message, {
    retryable: failure.retryable || failure.kind === 'circuit-open',
    details: {
      ...details,
      reason: failure.kind,
      ...(failure.status === undefined ? {} : { httpStatus: failure.status }),
      ...(failure.requestId === undefined ? {} : { providerRequestId: failure.requestId }),
      ...(failure.providerMessage === undefined
        ? {}
        : { providerMessage: failure.providerMessage }),
      ...(failure.retryAfterMs === undefined ? {} : { retryAfterMs: failure.retryAfterMs }),
    },
    ...(retryAfterSeconds !== undefined &&
    (code === 'RATE_LIMITED' || code === 'PROVIDER_UNAVAILABLE')
      ? { headers: { 'retry-after': String(retryAfterSeconds) } }
      : {}),
  });
}
