import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino blanks before a line is written. Secrets never reach a log line; prompt and
 * completion text is blanked too unless BRAINCELLS_LOG_PROMPTS is on (it is user data).
 */
export const SECRET_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.apiKey',
  '*.api_key',
  '*.token',
  '*.secret',
  '*.sessionId',
  '*.authorization',
  '*.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["x-api-key"]',
  '*.csrfToken',
  '*.challengeToken',
  '*.setupToken',
  '*.recoveryCodes',
  // PGlite errors carry the failed query's parameter values (user data, hashes).
  'err.params',
  '*.err.params',
];

export const PROMPT_PATHS = [
  '*.prompt',
  '*.messages',
  '*.system',
  '*.instructions',
  '*.completion',
  '*.text',
];

export interface LoggerOptions {
  level: string;
  format: 'json' | 'pretty' | 'auto';
  logPrompts?: boolean;
  /** Tests pass a stream to capture lines. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const pretty =
    !options.destination &&
    (options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY === true));
  const redact = {
    paths: options.logPrompts ? SECRET_PATHS : [...SECRET_PATHS, ...PROMPT_PATHS],
    censor: '[redacted]',
  };
  const base = {
    level: options.level,
    redact,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (pretty) {
    return pino({
      ...base,
      transport: {
        target: 'pino-pretty',
        options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
      },
    });
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}
