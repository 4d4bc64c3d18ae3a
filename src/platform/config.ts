import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';

/**
 * Every setting the server reads, in one schema. Values come from the process environment,
 * then from `.env` in the working directory for anything the environment does not set.
 * Unknown `BRAINCELLS_*` names are refused so a typo never silently falls back to a default.
 */
const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** name → [schema, default, description]; the README's configuration table is generated from it. */
export const SETTINGS = {
  BRAINCELLS_DATA_DIR: [
    z.string().min(1),
    './data',
    'Directory for the embedded PGlite database, the DuckDB file and uploads.',
  ],
  HOST: [z.string().min(1), '127.0.0.1', 'Interface the HTTP server binds to.'],
  PORT: [integer(0, 65535), '3000', 'HTTP port (0 picks a free one).'],
  DATABASE_URL: [
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
    undefined,
    'Use this PostgreSQL server instead of the embedded PGlite.',
  ],
  BRAINCELLS_DATABASE_POOL_SIZE: [
    integer(1, 200),
    '10',
    'PostgreSQL connections per process (ignored on PGlite, which has one).',
  ],
  BRAINCELLS_MIGRATE_ON_START: [
    booleanString,
    'true',
    'Apply pending migrations when the server starts.',
  ],
  BRAINCELLS_JOBS: [booleanString, 'true', 'Run the job workers (pg-boss) in this process.'],
  BRAINCELLS_BODY_LIMIT: [
    integer(1024, 1024 ** 3),
    String(1024 * 1024),
    'Largest JSON request body in bytes.',
  ],
  BRAINCELLS_SHUTDOWN_TIMEOUT_MS: [
    integer(0, 600_000),
    '10000',
    'How long SIGTERM waits for in-flight requests before closing them.',
  ],
  BRAINCELLS_DUCKDB_THREADS: [
    integer(1, 256).optional(),
    undefined,
    'DuckDB worker threads (default: number of cores).',
  ],
  BRAINCELLS_DUCKDB_MEMORY_LIMIT: [
    z
      .string()
      .regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'must look like 2GB')
      .optional(),
    undefined,
    'DuckDB memory limit, e.g. 4GB (default: 80% of RAM).',
  ],
  BRAINCELLS_DUCKDB_CONNECTIONS: [
    integer(1, 64),
    '4',
    'Connections kept open on the one DuckDB instance.',
  ],
  BRAINCELLS_LOG_PROMPTS: [
    booleanString,
    'false',
    'Log prompt and completion text (redacted by default).',
  ],
  LOG_LEVEL: [z.enum(LOG_LEVELS), 'info', 'fatal, error, warn, info, debug, trace or silent.'],
  LOG_FORMAT: [
    z.enum(['json', 'pretty', 'auto']),
    'auto',
    'json, pretty, or auto (pretty on a TTY).',
  ],
  NODE_ENV: [z.string(), 'production', 'development, production or test.'],
  // — sheets (src/sheets, docs/sheets.md) —
  BRAINCELLS_IMPORT_MAX_BYTES: [integer(1, 1024 ** 4), String(1024 ** 3), 'Largest dataset import (upload, URL or Hub file) in bytes; larger ones get 413.'],
  BRAINCELLS_IMPORT_MAX_BAD_LINE_SHARE: [z.string().regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'must be a share between 0 and 1').transform(Number), '0.05', 'An import fails, writing nothing, when more than this share of its lines is malformed.'],
  BRAINCELLS_IMPORT_ALLOW_PRIVATE_URLS: [booleanString, 'false', 'Allow URL imports from private, loopback and link-local addresses (refused by default: SSRF).'],
  BRAINCELLS_HF_HUB_URL: [z.url({ protocol: /^https?$/ }), 'https://huggingface.co', 'Hugging Face Hub base URL for dataset imports.'],
  HF_TOKEN: [z.string().min(1).optional(), undefined, 'Hugging Face token, for importing private Hub datasets.'],
  BRAINCELLS_DATASET_RETENTION_DAYS: [integer(0, 3650), '7', 'Days a deleted dataset can be restored before a job purges it.'],
  BRAINCELLS_SQL_TIMEOUT_MS: [integer(100, 600_000), '10000', 'Time limit of one read-only SQL query over a dataset.'],
  BRAINCELLS_SQL_MAX_ROWS: [integer(1, 1_000_000), '10000', 'Rows one read-only SQL query returns at most.'],
} as const;

type Settings = typeof SETTINGS;
type SettingValue<K extends keyof Settings> = z.output<Settings[K][0]>;

export interface Config {
  dataDir: string;
  host: string;
  port: number;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  migrateOnStart: boolean;
  jobsEnabled: boolean;
  bodyLimit: number;
  shutdownTimeoutMs: number;
  duckdb: { threads: number | undefined; memoryLimit: string | undefined; connections: number };
  logPrompts: boolean;
  logLevel: SettingValue<'LOG_LEVEL'>;
  logFormat: SettingValue<'LOG_FORMAT'>;
  nodeEnv: string;
  sheets: {
    importMaxBytes: number;
    importMaxBadLineShare: number;
    importAllowPrivateUrls: boolean;
    hfHubUrl: string;
    hfToken: string | undefined;
    retentionDays: number;
    sqlTimeoutMs: number;
    sqlMaxRows: number;
  };
}

export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** Reads `.env` (if present) without touching process.env; real environment wins. */
export function readEnvFile(file = path.resolve('.env')): Record<string, string> {
  if (!existsSync(file)) return {};
  return parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
}

export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  envFile: Record<string, string> = readEnvFile(),
): Config {
  const merged: Record<string, string | undefined> = { ...envFile, ...env };
  for (const name of Object.keys(merged)) {
    if (name.startsWith('BRAINCELLS_') && !(name in SETTINGS)) {
      throw new ConfigError(name, 'unknown setting (see the configuration table in the README)');
    }
  }
  const read = <K extends keyof Settings>(name: K): SettingValue<K> => {
    const [schema, fallback] = SETTINGS[name];
    const raw = merged[name];
    const value = raw === undefined || raw === '' ? fallback : raw.trim();
    const result = (schema as z.ZodType).safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new ConfigError(
        name,
        `${issue?.message ?? 'invalid value'} (got ${JSON.stringify(raw)})`,
      );
    }
    return result.data as SettingValue<K>;
  };

  return {
    dataDir: path.resolve(read('BRAINCELLS_DATA_DIR')),
    host: read('HOST'),
    port: read('PORT'),
    databaseUrl: read('DATABASE_URL'),
    databasePoolSize: read('BRAINCELLS_DATABASE_POOL_SIZE'),
    migrateOnStart: read('BRAINCELLS_MIGRATE_ON_START'),
    jobsEnabled: read('BRAINCELLS_JOBS'),
    bodyLimit: read('BRAINCELLS_BODY_LIMIT'),
    shutdownTimeoutMs: read('BRAINCELLS_SHUTDOWN_TIMEOUT_MS'),
    duckdb: {
      threads: read('BRAINCELLS_DUCKDB_THREADS'),
      memoryLimit: read('BRAINCELLS_DUCKDB_MEMORY_LIMIT'),
      connections: read('BRAINCELLS_DUCKDB_CONNECTIONS'),
    },
    logPrompts: read('BRAINCELLS_LOG_PROMPTS'),
    logLevel: read('LOG_LEVEL'),
    logFormat: read('LOG_FORMAT'),
    nodeEnv: read('NODE_ENV'),
    sheets: {
      importMaxBytes: read('BRAINCELLS_IMPORT_MAX_BYTES'),
      importMaxBadLineShare: read('BRAINCELLS_IMPORT_MAX_BAD_LINE_SHARE'),
      importAllowPrivateUrls: read('BRAINCELLS_IMPORT_ALLOW_PRIVATE_URLS'),
      hfHubUrl: read('BRAINCELLS_HF_HUB_URL'),
      hfToken: read('HF_TOKEN'),
      retentionDays: read('BRAINCELLS_DATASET_RETENTION_DAYS'),
      sqlTimeoutMs: read('BRAINCELLS_SQL_TIMEOUT_MS'),
      sqlMaxRows: read('BRAINCELLS_SQL_MAX_ROWS'),
    },
  };
}
