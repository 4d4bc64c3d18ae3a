/** The server's closed set of error codes (DESIGN.md "Errors"), plus NETWORK for a failed fetch. */
export type ApiErrorCode =
  | 'VALIDATION_ERROR'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  | 'BUDGET_EXCEEDED'
  | 'PROVIDER_ERROR'
  | 'PROVIDER_UNAVAILABLE'
  | 'TIMEOUT'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL'
  | 'NETWORK';

export interface ApiErrorBody {
  code: string;
  message: string;
  retryable: boolean;
  details?: unknown;
  requestId?: string;
}

/** An error envelope `{"error":{…}}` from the API, as a typed error the UI can show. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ApiErrorCode;
  readonly retryable: boolean;
  readonly details: unknown;
  readonly requestId: string | undefined;

  constructor(status: number, body: ApiErrorBody) {
    super(body.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code as ApiErrorCode;
    this.retryable = body.retryable;
    this.details = body.details;
    this.requestId = body.requestId;
  }

  /** Field problems of a VALIDATION_ERROR, when the server named them. */
  get fieldErrors(): { path: string; message: string }[] {
    const details = this.details as { issues?: unknown } | unknown[] | undefined;
    const list = Array.isArray(details) ? details : (details as { issues?: unknown })?.issues;
    if (!Array.isArray(list)) return [];
    return list
      .filter(
        (item): item is { path: unknown; message: unknown } =>
          typeof item === 'object' && item !== null,
      )
      .map((item) => ({
        path: Array.isArray(item.path) ? item.path.join('.') : String(item.path ?? ''),
        message: String(item.message ?? ''),
      }));
  }
}

function isEnvelope(value: unknown): value is { error: ApiErrorBody } {
  if (typeof value !== 'object' || value === null) return false;
  const error = (value as { error?: unknown }).error;
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as ApiErrorBody).code === 'string' &&
    typeof (error as ApiErrorBody).message === 'string'
  );
}

/** Maps any answer that is not 2xx to an ApiError, whether or not it carries the envelope. */
export function toApiError(status: number, body: unknown, requestId?: string): ApiError {
  if (isEnvelope(body)) return new ApiError(status, body.error);
  return new ApiError(status, {
    code: status === 404 ? 'NOT_FOUND' : status >= 500 ? 'INTERNAL' : 'VALIDATION_ERROR',
    message: `The server answered ${status}`,
    retryable: status >= 500,
    ...(requestId ? { requestId } : {}),
  });
}

export function networkError(cause: unknown): ApiError {
  const error = new ApiError(0, {
    code: 'NETWORK',
    message: 'Cannot reach the server. Check your connection and try again.',
    retryable: true,
  });
  (error as { cause?: unknown }).cause = cause;
  return error;
}

/** A sentence for the user: the server's message plus the request id to quote in a report. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    return error.requestId ? `${error.message} (request ${error.requestId})` : error.message;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
