import { describe, expect, it } from 'vitest';
import { AppError, notFound } from '../app-error.ts';
import { errorEnvelope, toAppError } from './error-envelope.ts';

describe('toAppError', () => {
  it('keeps AppErrors as they are', () => {
    const error = notFound('dataset', 'abc');
    expect(toAppError(error)).toBe(error);
  });

  it.each([
    [{ statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' }, 413, 'PAYLOAD_TOO_LARGE'],
    [{ statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    [{ statusCode: 400, code: 'FST_ERR_CTP_EMPTY_JSON_BODY' }, 400, 'VALIDATION_ERROR'],
    [{ statusCode: 404 }, 404, 'NOT_FOUND'],
    [{ statusCode: 429 }, 429, 'RATE_LIMITED'],
  ])('maps framework client error %j', (shape, status, code) => {
    const error = toAppError(Object.assign(new Error('raw'), shape));
    expect(error.status).toBe(status);
    expect(error.code).toBe(code);
  });

  it('hides the message of anything unexpected', () => {
    const error = toAppError(new Error('relation "users" does not exist at /srv/app/x.ts:10'));
    expect(error.code).toBe('INTERNAL');
    expect(error.status).toBe(500);
    expect(error.message).toBe('Internal server error');
  });

  it('builds the envelope with details only when present', () => {
    expect(errorEnvelope(new AppError('CONFLICT', 'stale'), 'r1')).toEqual({
      error: { code: 'CONFLICT', message: 'stale', retryable: false, requestId: 'r1' },
    });
    expect(
      errorEnvelope(new AppError('RATE_LIMITED', 'slow down', { details: { limit: 5 } }), 'r2'),
    ).toEqual({
      error: {
        code: 'RATE_LIMITED',
        message: 'slow down',
        retryable: true,
        details: { limit: 5 },
        requestId: 'r2',
      },
    });
  });
});
