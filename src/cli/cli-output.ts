import { type AppError, isAppError } from '../platform/app-error.ts';

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number = EXIT.failure) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A fixed-width text table for humans; `--json` prints the rows instead. */
export function printTable(rows: Record<string, unknown>[], columns: string[]): void {
  const cell = (value: unknown) =>
    value === undefined || value === null
      ? '-'
      : value instanceof Date
        ? value.toISOString()
        : String(value);
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => cell(row[column]).length)),
  );
  const line = (values: string[]) =>
    values
      .map((value, index) => value.padEnd(widths[index]!))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line(columns)}\n`);
  for (const row of rows) process.stdout.write(`${line(columns.map((c) => cell(row[c])))}\n`);
}

/** The same envelope the API returns, for `--json` error output. */
export function errorJson(error: AppError | Error) {
  return {
    error: {
      code: isAppError(error) ? error.code : 'INTERNAL',
      message: error.message,
      retryable: isAppError(error) ? error.retryable : false,
      requestId: 'cli',
    },
  };
}
