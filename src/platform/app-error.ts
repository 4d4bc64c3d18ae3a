/**
 * The one error type that crosses layers. Its `message` is safe to show to a client;
 * anything internal (SQL, stack, paths) stays in `cause` and reaches only the log.
 */
export const ERROR_CODES = [
  'VALIDATION_ERROR',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'RATE_LIMITED',
  'BUDGET_EXCEEDED',
  'PROVIDER_ERROR',
  'PROVIDER_UNAVAILABLE',
  'TIMEOUT',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'SERVICE_UNAVAILABLE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const STATUS_BY_CODE: Record<ErrorCode, number> = {
  VALIDATION_ERROR: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  BUDGET_EXCEEDED: 402,
  PROVIDER_ERROR: 502,
  PROVIDER_UNAVAILABLE: 503,
  SERVICE_UNAVAILABLE: 503,
  TIMEOUT: 504,
  INTERNAL: 500,
};

const RETRYABLE: ReadonlySet<ErrorCode> = new Set([
  'RATE_LIMITED',
  'PROVIDER_UNAVAILABLE',
  'SERVICE_UNAVAILABLE',
  'TIMEOUT',
]);

export interface AppErrorOptions {
  details?: Record<string, unknown>;
  retryable?: boolean;
  status?: number;
  cause?: unknown;
  /** Extra response headers, e.g. Retry-After on RATE_LIMITED. */
  headers?: Record<string, string>;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = options.status ?? STATUS_BY_CODE[code];
    this.retryable = options.retryable ?? RETRYABLE.has(code);
    this.details = options.details;
    this.headers = options.headers;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

export function statusForCode(code: ErrorCode): number {
  return STATUS_BY_CODE[code];
}

export interface FieldIssue {
  path: string;
  message: string;
}

export const validationError = (message: string, issues?: FieldIssue[]) =>
  new AppError('VALIDATION_ERROR', message, issues ? { details: { issues } } : {});

/** Missing and "exists but you may not see it" answer the same, so ids cannot be probed. */
export const notFound = (entity: string, id?: string) =>
  new AppError(
    'NOT_FOUND',
    `${entity} not found`,
    id === undefined ? {} : { details: { entity, id } },
  );

export const conflict = (message: string, details?: Record<string, unknown>) =>
  new AppError('CONFLICT', message, details ? { details } : {});

export const unauthenticated = (message = 'Authentication required') =>
  new AppError('UNAUTHENTICATED', message);

export const forbidden = (message = 'Not allowed') => new AppError('FORBIDDEN', message);

export const serviceUnavailable = (message: string, details?: Record<string, unknown>) =>
  new AppError('SERVICE_UNAVAILABLE', message, details ? { details } : {});

export const internalError = (cause?: unknown) =>
  new AppError('INTERNAL', 'Internal server error', { cause });
