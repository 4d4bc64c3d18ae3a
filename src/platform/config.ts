import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { type DeploymentMode, deploymentConfig, type ServerRole } from './config-deployment.ts';
import type { RedisSettings } from './redis.ts';

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

// Durations like 90s, 30m, 12h, 7d → milliseconds.
const DURATION_UNITS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const duration = (minMs: number, maxMs: number) =>
  z
    .string()
    .regex(/^\d+[smhd]$/, 'must look like 90s, 30m, 12h or 7d')
    .transform((value) => Number(value.slice(0, -1)) * DURATION_UNITS[value.at(-1) as 's'])
    .pipe(z.number().min(minMs, 'too short').max(maxMs, 'too long'));

// Comma-separated values, trimmed, empty entries dropped; `check` refuses a bad entry.
const commaList = (check: (entry: string) => boolean, message: string) =>
  z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    )
    .refine((entries) => entries.every(check), message);

const isOrigin = (origin: string) => {
  try {
    return new URL(origin).origin === origin;
  } catch {
    return false;
  }
};

// Browser origins (scheme://host[:port]), each checked.
const originList = commaList(
  isOrigin,
  'each origin must look like https://app.example.com (no path, no trailing slash)',
);
const modelPatternList = commaList(
  (pattern) => /^[A-Za-z0-9*._:@/-]{1,200}$/.test(pattern),
  'every entry must be a model name pattern (letters, digits, . _ - : @ / and *)',
);
const absolutePathList = commaList(
  (root) => root.startsWith('/'),
  'every root must be an absolute path',
);

const httpUrl = z.url({ protocol: /^https?$/ });
const urlWithScheme = (scheme: RegExp, message: string) => z.string().regex(scheme, message);
const decimal = (pattern: RegExp, message: string) =>
  z.string().regex(pattern, message).transform(Number);
const otlpProtocol = z.enum(['http/json', 'http/protobuf'], {
  message:
    "must be http/json or http/protobuf (grpc is not supported: use the collector's OTLP/HTTP port, usually 4318)",
});
const byteSize = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'must look like 2GB');
const secretValue = z.string().min(1);

/** Settings whose values are never echoed in an error message (they hold keys or passwords). */
const SECRET_SETTINGS: ReadonlySet<string> = new Set([
  'DATABASE_URL',
  'BRAINCELLS_SECRET',
  'BRAINCELLS_SECRET_PREVIOUS',
  'REDIS_URL',
  'SMTP_URL',
  'OPENAI_API_KEY',
  'ANTHROPIC_API_KEY',
  'HF_TOKEN',
  'OPENAI_COMPATIBLE_API_KEY',
  'SERPER_API_KEY',
  'BRAVE_API_KEY',
  'TAVILY_API_KEY',
  'OTEL_EXPORTER_OTLP_HEADERS',
]);

// LLM timeouts per feature: `sheet-cell=20000/20000/120000,chat=30000/60000/600000`.
const llmFeatureTimeouts = z
  .string()
  .regex(
    /^\s*[a-z][a-z0-9-]{0,63}=\d+\/\d+\/\d+(\s*,\s*[a-z][a-z0-9-]{0,63}=\d+\/\d+\/\d+)*\s*$/,
    'must look like sheet-cell=20000/20000/120000,chat=30000/60000/600000',
  )
  .transform(
    (value) =>
      Object.fromEntries(
        value.split(',').map((entry) => {
          const [feature, ms] = entry.trim().split('=') as [string, string];
          const [firstChunkMs, idleMs, totalMs] = ms.split('/').map(Number) as [
            number,
            number,
            number,
          ];
          return [feature, { firstChunkMs, idleMs, totalMs }];
        }),
      ) as Record<string, { firstChunkMs: number; idleMs: number; totalMs: number }>,
  );

// OTLP exporter headers (OpenTelemetry spec: `key1=value1,key2=value2`, values percent-encoded).
const otlpHeaders = z.string().transform((value, context) => {
  const headers: Record<string, string> = {};
  for (const entry of value.split(',')) {
    if (entry.trim() === '') continue;
    const at = entry.indexOf('=');
    const key = at === -1 ? '' : entry.slice(0, at).trim();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) {
      context.addIssue({ code: 'custom', message: 'each header must look like name=value' });
      return z.NEVER;
    }
    try {
      headers[key] = decodeURIComponent(entry.slice(at + 1).trim());
    } catch {
      context.addIssue({ code: 'custom', message: 'a header value is not valid percent-encoding' });
      return z.NEVER;
    }
  }
  return headers;
});

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
    urlWithScheme(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
    undefined,
    'Use this PostgreSQL server instead of the embedded PGlite.',
  ],
  BRAINCELLS_DATABASE_POOL_SIZE: [
    integer(1, 200),
    '10',
    'PostgreSQL connections per process for requests and services (ignored on PGlite, which has one); the job queue and the event listener hold 5 more (docs/deploy.md#pools).',
  ],
  BRAINCELLS_DATABASE_ACQUIRE_TIMEOUT_MS: [
    integer(1, 600_000),
    '5000',
    'Longest wait for a free PostgreSQL connection (or a new one to open); past it the request fails with 503 SERVICE_UNAVAILABLE instead of hanging.',
  ],
  BRAINCELLS_ROLE: [
    z.enum(['all', 'api', 'worker'], { message: 'must be all, api or worker' }),
    'all',
    'all: serve HTTP, run jobs, hold datasets; api: serve HTTP only, run no jobs and hold no dataset (dataset requests go to an all or worker server; needs BRAINCELLS_SECRET); worker: run jobs and hold datasets, serve only /healthz, /readyz, /metrics and what other servers forward. api and worker need DATABASE_URL (docs/deploy.md#roles).',
  ],
  BRAINCELLS_MIGRATE_ON_START: [
    booleanString,
    'true',
    'Apply pending migrations when the server starts.',
  ],
  BRAINCELLS_JOBS: [
    booleanString,
    'true',
    'Run the job workers (pg-boss) in this process; false with BRAINCELLS_ROLE=all is the same as api.',
  ],
  BRAINCELLS_RUN_LEASE_MS: [
    integer(3_000, 3_600_000),
    '60000',
    'How long a durable run (AI-column run, chat reply, workflow) stays with a server that stopped renewing it (renewed every third of it); after it another server takes the run over (docs/deploy.md#runs-and-jobs-across-servers).',
  ],
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
  BRAINCELLS_REQUEST_TIMEOUT_MS: [
    integer(1_000, 3_600_000),
    '600000',
    'Longest time to receive one whole request, headers and body (uploads included); a slower one is cut with 408. Raise it for large uploads over slow links.',
  ],
  BRAINCELLS_HEADERS_TIMEOUT_MS: [
    integer(1_000, 600_000),
    '20000',
    'Longest time to receive a request’s headers (a client trickling them holds a connection open); at most the request timeout.',
  ],
  BRAINCELLS_MAX_CONNECTIONS_PER_IP: [
    integer(0, 1_000_000),
    '100',
    'Open connections one client address may hold; more are closed at once. Behind a reverse proxy every connection comes from the proxy: raise it, or 0 for no limit.',
  ],
  BRAINCELLS_GATEWAY_CONNECTIONS_PER_IP: [
    integer(0, 1_000_000),
    '2000',
    'Connections one address may open past BRAINCELLS_MAX_CONNECTIONS_PER_IP for the gateway (/v1, a gateway key on every request); any other request on them is answered 429 and the connection closed.',
  ],
  BRAINCELLS_GATEWAY_CONCURRENCY_PER_KEY: [
    integer(1, 1_000_000),
    '1000',
    'Calls one gateway key may have in flight on this server; more are answered 429 in the caller’s wire format with Retry-After.',
  ],
  BRAINCELLS_DUCKDB_THREADS: [
    integer(1, 256).optional(),
    undefined,
    'DuckDB worker threads (default: number of cores).',
  ],
  BRAINCELLS_DUCKDB_MEMORY_LIMIT: [
    byteSize.optional(),
    undefined,
    'DuckDB memory limit, e.g. 4GB (default: 80% of RAM).',
  ],
  BRAINCELLS_DUCKDB_CONNECTIONS: [
    integer(1, 64),
    '4',
    'Connections kept open on the one DuckDB instance.',
  ],
  BRAINCELLS_DUCKDB_MAX_ATTACHED: [
    integer(1, 1_000_000),
    '500',
    'Dataset DuckDB files a server keeps attached at most: past it, the least recently used datasets idle for 5 minutes (no write, run or export holding them) are detached, and attached again on their next use.',
  ],
  BRAINCELLS_STORAGE_DIR: [
    z.string().min(1).optional(),
    undefined,
    'Folder holding each dataset’s DuckDB file (datasets/<id>.duckdb) and uploads waiting for their import (imports/); with several servers, a volume they all mount at this path. Unset: the data dir.',
  ],
  BRAINCELLS_DATASET_LEASE_TTL: [
    duration(5_000, 600_000),
    '12s',
    'How long a server’s hold on a dataset lasts without a heartbeat (renewed every third of it); a dead owner’s datasets are taken over after it (docs/deploy.md#dataset-ownership).',
  ],
  BRAINCELLS_INTERNAL_URL: [
    httpUrl.optional(),
    undefined,
    'The URL other servers reach this one at (e.g. http://10.0.0.5:3000), for dataset requests they forward to the dataset’s owner. Needed when several servers share DATABASE_URL.',
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
  // — OpenTelemetry trace export (src/platform/telemetry.ts, docs/llm.md "Observability") —
  OTEL_EXPORTER_OTLP_ENDPOINT: [
    httpUrl.optional(),
    undefined,
    'OTLP/HTTP collector, e.g. http://127.0.0.1:4318: export a span per LLM call (GenAI gen_ai.* attributes) to its /v1/traces path. Unset: no telemetry code is loaded.',
  ],
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: [
    httpUrl.optional(),
    undefined,
    'Full URL traces are sent to, used as is (wins over OTEL_EXPORTER_OTLP_ENDPOINT).',
  ],
  OTEL_EXPORTER_OTLP_HEADERS: [
    otlpHeaders.optional(),
    undefined,
    "Headers sent with every export, name=value pairs separated by commas (values percent-encoded), e.g. the collector's API key.",
  ],
  OTEL_EXPORTER_OTLP_PROTOCOL: [
    otlpProtocol.optional(),
    undefined,
    'Spans are sent as OTLP/HTTP JSON, which every OTLP/HTTP receiver accepts; grpc is refused.',
  ],
  OTEL_SERVICE_NAME: [z.string().min(1).max(200), 'braincells', 'service.name of exported spans.'],
  OTEL_SDK_DISABLED: [booleanString, 'false', 'true: export nothing, even with an endpoint set.'],
  // — sheets (src/sheets, docs/sheets.md) —
  BRAINCELLS_IMPORT_MAX_BYTES: [
    integer(1, 1024 ** 4),
    String(1024 ** 3),
    'Largest dataset import (upload, URL or Hub file) in bytes; larger ones get 413.',
  ],
  BRAINCELLS_IMPORT_MAX_BAD_LINE_SHARE: [
    decimal(/^(0(\.\d+)?|1(\.0+)?)$/, 'must be a share between 0 and 1'),
    '0.05',
    'An import fails, writing nothing, when more than this share of its lines is malformed.',
  ],
  BRAINCELLS_IMPORT_UPLOAD_RETENTION_HOURS: [
    integer(1, 24 * 365),
    '24',
    'Hours an uploaded file waits to be imported; a job then removes uploads never started.',
  ],
  BRAINCELLS_IMPORT_ALLOW_PRIVATE_URLS: [
    booleanString,
    'false',
    'Allow URL imports from private, loopback and link-local addresses (refused by default: SSRF).',
  ],
  BRAINCELLS_HF_HUB_URL: [
    httpUrl,
    'https://huggingface.co',
    'Hugging Face Hub base URL for dataset imports and publishes.',
  ],
  HF_TOKEN: [
    secretValue.optional(),
    undefined,
    "Hugging Face token, for importing private Hub datasets and publishing (a project's own Hub token wins).",
  ],
  BRAINCELLS_DATASET_RETENTION_DAYS: [
    integer(0, 3650),
    '7',
    'Days a deleted dataset can be restored before a job purges it.',
  ],
  BRAINCELLS_CHAT_RETENTION_DAYS: [
    integer(0, 3650),
    '30',
    'Days a deleted chat thread can be restored before a job purges it.',
  ],
  BRAINCELLS_SQL_TIMEOUT_MS: [
    integer(100, 600_000),
    '10000',
    'Time limit of one read-only SQL query over a dataset.',
  ],
  BRAINCELLS_SQL_MAX_ROWS: [
    integer(1, 1_000_000),
    '10000',
    'Rows one read-only SQL query returns at most.',
  ],
  BRAINCELLS_SQL_MEMORY_LIMIT: [
    integer(64 * 1024 ** 2, 1024 ** 4),
    String(1024 ** 3),
    'Memory in bytes one sandbox process (read-only SQL, formulas) may use; past it the query is stopped (docs/security.md#the-sql-sandbox).',
  ],
  BRAINCELLS_SQL_PROCESSES: [
    integer(1, 64),
    '2',
    'Sandbox processes for read-only SQL and formulas at most; more queries wait their turn.',
  ],
  BRAINCELLS_FORMULA_TIMEOUT_MS: [
    integer(100, 3_600_000),
    '60000',
    'Time limit of computing one formula column (or its cells after an edit).',
  ],
  BRAINCELLS_FORMULA_MAX_VALUE_BYTES: [
    integer(16, 64 * 1024 ** 2),
    String(1024 ** 2),
    'Largest value a formula may compute for one cell, in bytes (larger: an error cell saying so).',
  ],
  // — accounts, sessions and the security baseline (docs/security.md) —
  BRAINCELLS_SECRET: [
    z.string().min(32, 'must be at least 32 characters').optional(),
    undefined,
    'Master key for secrets at rest (provider keys, TOTP secrets): 32 or more random characters. Unset: a key file (mode 0600) is generated in the data dir. Set it when several servers share one PostgreSQL.',
  ],
  BRAINCELLS_SECRET_PREVIOUS: [
    z.string().optional(),
    undefined,
    'Earlier values of BRAINCELLS_SECRET, comma-separated: still accepted for decryption until `braincells secrets rotate` has re-encrypted everything.',
  ],
  BRAINCELLS_PUBLIC_URL: [
    httpUrl.optional(),
    undefined,
    'The URL users reach the server at; used in password-reset links and accepted as a request Origin (default: http://HOST:PORT).',
  ],
  BRAINCELLS_SESSION_IDLE_TIMEOUT: [
    duration(60_000, 365 * 86_400_000),
    '7d',
    'A session ends after this long without a request (e.g. 30m, 12h, 7d).',
  ],
  BRAINCELLS_SESSION_ABSOLUTE_TIMEOUT: [
    duration(60_000, 365 * 86_400_000),
    '30d',
    'A session ends this long after sign-in, however active.',
  ],
  BRAINCELLS_SECURE_COOKIES: [
    booleanString,
    'false',
    'Mark cookies Secure on plain HTTP too (set it behind a TLS-terminating proxy); always on when the server itself serves TLS.',
  ],
  BRAINCELLS_REMOTE_IMAGES: [
    booleanString,
    'true',
    'Let the web UI load https: images from other hosts (image-URL cells shown as thumbnails, sent without a referrer). false: the CSP allows only our own images and such cells show their URL.',
  ],
  BRAINCELLS_CORS_ORIGINS: [
    originList.optional(),
    undefined,
    'Comma-separated browser origins allowed to call the API cross-origin. Unset: none.',
  ],
  BRAINCELLS_RATE_LIMIT_PER_IP: [
    integer(1, 1_000_000),
    '600',
    'Requests per minute from one IP address, on every route.',
  ],
  BRAINCELLS_RATE_LIMIT_PER_USER: [
    integer(1, 1_000_000),
    '1200',
    'Requests per minute by one user (all their sessions and API keys), on every route.',
  ],
  BRAINCELLS_RATE_LIMIT_AUTH: [
    integer(1, 100_000),
    '20',
    'Requests per minute from one IP address to each sign-in, setup and password-reset route.',
  ],
  BRAINCELLS_LOGIN_MAX_FAILURES: [
    integer(1, 1_000),
    '5',
    'Failed sign-ins on one account (password or MFA code) before it is locked.',
  ],
  BRAINCELLS_LOGIN_IP_MAX_FAILURES: [
    integer(1, 1_000_000),
    '50',
    'Failed sign-ins from one IP address before it is locked.',
  ],
  BRAINCELLS_LOGIN_LOCKOUT: [
    duration(1_000, 7 * 86_400_000),
    '15m',
    'How long a locked account or IP address is refused; failures older than this are forgotten.',
  ],
  BRAINCELLS_LOGIN_DELAY_MS: [
    integer(0, 10_000),
    '250',
    'Delay before answering a sign-in on an account or IP with recent failures; doubles per failure, up to 16 times this.',
  ],
  REDIS_URL: [
    urlWithScheme(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
    undefined,
    'Redis shared by several servers: rate-limit counters, and /readyz checks it. With DATABASE_URL it puts the server in shared mode (docs/deploy.md). rediss:// connects over TLS, certificate always verified.',
  ],
  BRAINCELLS_REDIS_CA_FILE: [
    z.string().min(1).optional(),
    undefined,
    'PEM file of the CA that signed the Redis server certificate (rediss:// only). Unset: the system CA store.',
  ],
  SMTP_URL: [
    urlWithScheme(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
    undefined,
    'Send password-reset mail through this SMTP server (smtp://user:pass@host:587). Unset: an admin makes reset links with `braincells user reset-link`.',
  ],
  SMTP_FROM: [
    z.string().min(3).max(320),
    'Brain Cells <no-reply@localhost>',
    'Sender of mail the server sends.',
  ],
  // — LLM providers, router, budgets, cache (src/llm, docs/llm.md) —
  OPENAI_API_KEY: [
    secretValue.optional(),
    undefined,
    'OpenAI API key: adds an instance-wide provider "openai (env)".',
  ],
  OPENAI_BASE_URL: [
    httpUrl.optional(),
    undefined,
    'Base URL for the OPENAI_API_KEY provider (default https://api.openai.com/v1).',
  ],
  ANTHROPIC_API_KEY: [
    secretValue.optional(),
    undefined,
    'Anthropic API key: adds an instance-wide provider "anthropic (env)".',
  ],
  ANTHROPIC_BASE_URL: [
    httpUrl.optional(),
    undefined,
    'Base URL for the ANTHROPIC_API_KEY provider (default https://api.anthropic.com/v1).',
  ],
  OPENAI_COMPATIBLE_BASE_URL: [
    httpUrl.optional(),
    undefined,
    'An OpenAI-compatible server (Ollama, vLLM, llama.cpp, a gateway), e.g. http://127.0.0.1:11434/v1: adds an instance-wide provider "openai-compatible (env)". HF_TOKEN likewise adds "huggingface (env)".',
  ],
  OPENAI_COMPATIBLE_API_KEY: [
    secretValue.optional(),
    undefined,
    'API key for OPENAI_COMPATIBLE_BASE_URL, if it needs one.',
  ],
  BRAINCELLS_LLM_MAX_ATTEMPTS: [
    integer(1, 10),
    '3',
    'Attempts per model for one LLM call (1 = no retry); then the fallback chain.',
  ],
  BRAINCELLS_LLM_RETRY_BASE_MS: [
    integer(1, 60_000),
    '500',
    'Ceiling of the first retry delay; doubles per retry (full jitter).',
  ],
  BRAINCELLS_LLM_RETRY_MAX_MS: [
    integer(1, 600_000),
    '20000',
    'Ceiling of any computed retry delay.',
  ],
  BRAINCELLS_LLM_MAX_RETRY_AFTER_MS: [
    integer(0, 3_600_000),
    '60000',
    'A provider Retry-After longer than this is not waited for: the call fails (or falls back) instead.',
  ],
  BRAINCELLS_LLM_FIRST_CHUNK_TIMEOUT_MS: [
    integer(100, 3_600_000),
    '30000',
    'Default time to the first streamed chunk (or to the whole non-streamed answer).',
  ],
  BRAINCELLS_LLM_IDLE_TIMEOUT_MS: [
    integer(100, 3_600_000),
    '30000',
    'Default longest pause between two streamed chunks.',
  ],
  BRAINCELLS_LLM_TOTAL_TIMEOUT_MS: [
    integer(100, 86_400_000),
    '300000',
    'Default time limit of one LLM call, retries and fallbacks included.',
  ],
  BRAINCELLS_LLM_FEATURE_TIMEOUTS: [
    llmFeatureTimeouts.optional(),
    undefined,
    'Per-feature timeouts as feature=firstChunk/idle/total ms, comma-separated, e.g. sheet-cell=20000/20000/120000,chat=30000/60000/600000.',
  ],
  BRAINCELLS_LLM_MAX_CONCURRENCY: [
    integer(1, 1000),
    '64',
    'Concurrency cap of the environment providers, and the default for new connections (429s lower it on their own).',
  ],
  BRAINCELLS_LLM_REQUESTS_PER_MINUTE: [
    integer(1, 1_000_000).optional(),
    undefined,
    'Requests-per-minute limit of the environment providers (default: none).',
  ],
  BRAINCELLS_LLM_BREAKER_FAILURES: [
    integer(1, 1000),
    '5',
    'Consecutive failures (5xx, network, timeouts) of one provider+model that open its circuit.',
  ],
  BRAINCELLS_LLM_BREAKER_OPEN_MS: [
    integer(100, 3_600_000),
    '30000',
    'How long an open circuit fails fast before one probe call; doubles per failed probe, up to 10x.',
  ],
  BRAINCELLS_LLM_DEFAULT_MAX_OUTPUT_TOKENS: [
    integer(1, 1_000_000),
    '4096',
    'Output token limit sent with calls that do not set one (it bounds the budget reservation).',
  ],
  BRAINCELLS_LLM_CACHE_MEMORY_ENTRIES: [
    integer(0, 1_000_000),
    '2000',
    'Responses kept in the in-memory LRU in front of the PostgreSQL cache (0 = none).',
  ],
  BRAINCELLS_LLM_USAGE_FLUSH_MS: [
    integer(10, 60_000),
    '250',
    'Cache writes are batched this often; usage rows the database refused are retried after it (at least 1 s).',
  ],
  // — AI columns: the generation engine (src/sheets/generation, docs/ai-columns.md) —
  BRAINCELLS_GENERATION_CONCURRENCY: [
    integer(1, 1_000),
    '256',
    "Server ceiling on the cells one generation run has in flight; a run uses its provider's cap up to it (run.concurrency says which limit applies).",
  ],
  BRAINCELLS_GENERATION_RUNS_PER_PROCESS: [
    integer(1, 100),
    '4',
    'Generation runs one server process executes at the same time.',
  ],
  BRAINCELLS_GENERATION_CONFIRM_ABOVE_USD: [
    decimal(/^\d+(\.\d+)?$/, 'must be an amount in USD like 1 or 0.25'),
    '1',
    'A run whose estimated cost is above this many USD waits for explicit confirmation.',
  ],
  BRAINCELLS_GENERATION_COMMIT_MS: [
    integer(1, 1_000),
    '25',
    'Generated cells are committed in batches at most this often (compare-and-set; group commit under load).',
  ],
  BRAINCELLS_GENERATION_FEW_SHOT_K: [
    integer(0, 50),
    '5',
    'Most validated cells given to the model as examples for one cell.',
  ],
  BRAINCELLS_VISION_MODELS: [
    modelPatternList.optional(),
    undefined,
    'Comma-separated model name patterns (`*` any characters) taken to accept images: a prompt that reads an image column with another model is refused. Unset: the built-in list in docs/images.md.',
  ],
  BRAINCELLS_IMAGE_EDIT_MODELS: [
    modelPatternList.optional(),
    undefined,
    'Comma-separated model name patterns (`*` any characters) taken to transform images: an image column whose prompt reads an image column with another model is refused. Unset: the built-in list in docs/images.md.',
  ],
  BRAINCELLS_GENERATION_FEW_SHOT_TOKENS: [
    integer(0, 100_000),
    '2000',
    'Token budget of those examples, per cell.',
  ],
  SERPER_API_KEY: [
    secretValue.optional(),
    undefined,
    'Web search grounding through Serper (google.serper.dev).',
  ],
  BRAVE_API_KEY: [
    secretValue.optional(),
    undefined,
    'Web search grounding through the Brave Search API.',
  ],
  TAVILY_API_KEY: [secretValue.optional(), undefined, 'Web search grounding through Tavily.'],
  SEARXNG_URL: [
    httpUrl.optional(),
    undefined,
    'Web search grounding through this SearXNG instance (JSON format enabled), e.g. http://127.0.0.1:8888.',
  ],
  BRAINCELLS_SEARCH_RESULTS: [
    integer(1, 20),
    '5',
    'Search results (sources) given to the model per cell.',
  ],
  BRAINCELLS_SEARCH_CACHE_TTL: [
    duration(0, 365 * 86_400_000),
    '1d',
    'How long search results are reused for the same query (0s = no cache).',
  ],
  BRAINCELLS_SEARCH_TIMEOUT_MS: [
    integer(100, 120_000),
    '10000',
    'Time limit of one web search; on timeout the cell is generated without sources.',
  ],
  // — monitor (src/monitor, docs/monitor.md) —
  // — documents (src/documents, docs/documents.md) —
  BRAINCELLS_DOCUMENT_MAX_BYTES: [
    integer(1, 1024 ** 4),
    String(100 * 1024 ** 2),
    'Largest document in an upload, in bytes; a larger one gets 413 and nothing of the batch is kept.',
  ],
  BRAINCELLS_DOCUMENT_BATCH_MAX_BYTES: [
    integer(1, 1024 ** 4),
    String(1024 ** 3),
    'Largest upload of documents (all files together), in bytes.',
  ],
  BRAINCELLS_DOCUMENT_EXTRACT_TIMEOUT_MS: [
    integer(1_000, 3_600_000),
    '120000',
    "How long one document's text extraction may take before it is stopped and marked failed.",
  ],
  // — images (src/sheets/images, docs/images.md) —
  BRAINCELLS_IMAGE_MAX_BYTES: [
    integer(1_024, 1024 ** 3),
    String(20 * 1024 ** 2),
    'Largest image a cell may hold, in bytes (an upload, or a file inflated from a ZIP).',
  ],
  BRAINCELLS_IMAGE_MAX_PIXELS: [
    integer(1, 1_000_000_000),
    '50000000',
    'Most pixels (width × height, as the header declares them) of an image; more is refused before decoding, so a decompression bomb never inflates.',
  ],
  BRAINCELLS_IMAGE_ZIP_MAX_BYTES: [
    integer(1_024, 1024 ** 4),
    String(2 * 1024 ** 3),
    'Largest ZIP of images in one import, in bytes as uploaded (entries are inflated one at a time).',
  ],
  BRAINCELLS_IMAGE_SWEEP_GRACE_HOURS: [
    integer(1, 24 * 365),
    '24',
    'Images no cell refers to are deleted by the hourly blob sweep once they have been stored this long ago (an import still running, or an undo, is never that old).',
  ],
  BRAINCELLS_MONITOR_ROOTS: [
    absolutePathList.optional(),
    undefined,
    'Comma-separated absolute folders the API may import coding-agent logs from (Claude Code, OpenCode). Unset: the API imports no server path; the CLI reads any local path.',
  ],
  BRAINCELLS_MONITOR_MAX_OPEN: [
    integer(1, 100_000),
    '32',
    'With several servers (DATABASE_URL + BRAINCELLS_STORAGE_DIR): projects’ monitor DuckDB files a server keeps open at most; past it, the least recently used projects idle for 5 minutes (no import, repricing, server-side watch or request holding them) are closed and their lease given up, and opened again on their next use.',
  ],
} as const;

type Settings = typeof SETTINGS;
type SettingValue<K extends keyof Settings> = z.output<Settings[K][0]>;

export interface Config {
  dataDir: string;
  host: string;
  port: number;
  /** all, api (no job workers) or worker (jobs, and only the health routes); docs/deploy.md. */
  role: ServerRole;
  /** embedded (PGlite), postgres (DATABASE_URL) or shared (DATABASE_URL and REDIS_URL). */
  mode: DeploymentMode;
  /** As configured, with sslmode made verify-full whenever it asks for TLS (db/postgres-url.ts). */
  databaseUrl: string | undefined;
  databasePoolSize: number;
  /** Longest wait for a pooled PostgreSQL connection before SERVICE_UNAVAILABLE. */
  databaseAcquireTimeoutMs: number;
  /** REDIS_URL and its CA; undefined when no Redis is configured. */
  redis: RedisSettings | undefined;
  migrateOnStart: boolean;
  /** Job workers run here: false on the api role or with BRAINCELLS_JOBS=false. */
  jobsEnabled: boolean;
  /** A durable run's lease: how soon another server takes over the run of a dead one. */
  runLeaseMs: number;
  bodyLimit: number;
  shutdownTimeoutMs: number;
  /** Socket-level limits of the HTTP server (slow clients, connection floods). */
  http: {
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    maxConnectionsPerIp: number;
    /** Connections past `maxConnectionsPerIp` kept for routes that allow them (the gateway). */
    overflowConnectionsPerIp: number;
  };
  /** The /v1 gateway for outside apps (docs/gateway.md). */
  gateway: { concurrencyPerKey: number };
  /** Where each dataset's DuckDB file lives (`<storageDir>/datasets/<id>.duckdb`); unset: dataDir. */
  storageDir: string | undefined;
  /** Dataset ownership across servers (src/platform/datasets/). */
  datasets: { leaseTtlMs: number; internalUrl: string | undefined };
  duckdb: {
    threads: number | undefined;
    memoryLimit: string | undefined;
    connections: number;
    /** Dataset files kept attached at most (least recently used idle ones detached past it). */
    maxAttached: number;
    sandbox: { memoryBytes: number; processes: number };
  };
  logPrompts: boolean;
  logLevel: SettingValue<'LOG_LEVEL'>;
  logFormat: SettingValue<'LOG_FORMAT'>;
  nodeEnv: string;
  chat: { retentionDays: number };
  sheets: {
    importMaxBytes: number;
    importMaxBadLineShare: number;
    importAllowPrivateUrls: boolean;
    /** Uploads not started within this many hours are removed (purgeExpiredUploads). */
    importUploadRetentionHours: number;
    hfHubUrl: string;
    hfToken: string | undefined;
    retentionDays: number;
    sqlTimeoutMs: number;
    sqlMaxRows: number;
    formulaTimeoutMs: number;
    formulaMaxValueBytes: number;
  };
  /** Master key material for secrets at rest; see src/platform/crypto.ts. */
  secret: { current: string | undefined; previous: string[] };
  publicUrl: string | undefined;
  secureCookies: boolean;
  corsOrigins: string[];
  /** `maxOpen` absent (a test's partial config): DEFAULT_MONITOR_MAX_OPEN. */
  monitor: { roots: string[]; maxOpen?: number | undefined };
  documents: { maxFileBytes: number; maxBatchBytes: number; extractTimeoutMs: number };
  images: { maxBytes: number; maxPixels: number; zipMaxBytes: number; sweepGraceHours: number };
  /** The CSP lets the web UI load https: images from other hosts (thumbnails). */
  remoteImages: boolean;
  session: { idleTimeoutMs: number; absoluteTimeoutMs: number };
  rateLimit: {
    perIp: number;
    perUser: number;
    auth: number;
    redisUrl: string | undefined;
    redisCaFile?: string | undefined;
  };
  login: { maxFailures: number; ipMaxFailures: number; lockoutMs: number; delayMs: number };
  smtp: { url: string | undefined; from: string };
  llm: LlmConfig;
  generation: GenerationConfig;
  telemetry: TelemetryConfig;
}

/** OpenTelemetry trace export (src/platform/telemetry.ts); standard OTEL_* variables. */
export interface TelemetryConfig {
  /** Where spans are sent (OTLP/HTTP JSON); undefined: telemetry off, nothing loaded. */
  tracesUrl: string | undefined;
  /** Sent with every export (collector credentials: never logged). */
  headers: Record<string, string>;
  serviceName: string;
}

/** Settings of src/sheets/generation; see docs/ai-columns.md. */
export interface GenerationConfig {
  concurrency: number;
  runsPerProcess: number;
  confirmAboveNano: number;
  commitMs: number;
  fewShotK: number;
  fewShotTokens: number;
  /** Model name patterns that accept images (docs/images.md); undefined: the built-in list. */
  visionModels?: readonly string[] | undefined;
  /** Model name patterns that transform images (docs/images.md); undefined: the built-in list. */
  imageEditModels?: readonly string[] | undefined;
  search: {
    serperApiKey: string | undefined;
    braveApiKey: string | undefined;
    tavilyApiKey: string | undefined;
    searxngUrl: string | undefined;
    results: number;
    cacheTtlMs: number;
    timeoutMs: number;
  };
}

/** Settings of src/llm; see docs/llm.md. */
export interface LlmConfig {
  /** Instance-wide providers configured by environment. */
  env: {
    openaiApiKey: string | undefined;
    openaiBaseUrl: string | undefined;
    anthropicApiKey: string | undefined;
    anthropicBaseUrl: string | undefined;
    hfToken: string | undefined;
    compatibleBaseUrl: string | undefined;
    compatibleApiKey: string | undefined;
  };
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  maxRetryAfterMs: number;
  timeouts: { firstChunkMs: number; idleMs: number; totalMs: number };
  featureTimeouts: Record<string, { firstChunkMs: number; idleMs: number; totalMs: number }>;
  maxConcurrency: number;
  requestsPerMinute: number | undefined;
  breakerFailures: number;
  breakerOpenMs: number;
  defaultMaxOutputTokens: number;
  cacheMemoryEntries: number;
  usageFlushMs: number;
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
        `${issue?.message ?? 'invalid value'} (got ${SECRET_SETTINGS.has(name) ? 'a value that is not shown' : JSON.stringify(raw)})`,
      );
    }
    return result.data as SettingValue<K>;
  };

  const deployment = deploymentConfig(
    {
      role: read('BRAINCELLS_ROLE'),
      databaseUrl: read('DATABASE_URL'),
      jobs: read('BRAINCELLS_JOBS'),
      redisUrl: read('REDIS_URL'),
      redisCaFile: read('BRAINCELLS_REDIS_CA_FILE'),
      secret: read('BRAINCELLS_SECRET'),
    },
    (variable, problem) => new ConfigError(variable, problem),
  );

  return {
    dataDir: path.resolve(read('BRAINCELLS_DATA_DIR')),
    host: read('HOST'),
    port: read('PORT'),
    ...deployment,
    databasePoolSize: read('BRAINCELLS_DATABASE_POOL_SIZE'),
    databaseAcquireTimeoutMs: read('BRAINCELLS_DATABASE_ACQUIRE_TIMEOUT_MS'),
    migrateOnStart: read('BRAINCELLS_MIGRATE_ON_START'),
    runLeaseMs: read('BRAINCELLS_RUN_LEASE_MS'),
    bodyLimit: read('BRAINCELLS_BODY_LIMIT'),
    shutdownTimeoutMs: read('BRAINCELLS_SHUTDOWN_TIMEOUT_MS'),
    http: {
      requestTimeoutMs: read('BRAINCELLS_REQUEST_TIMEOUT_MS'),
      headersTimeoutMs: read('BRAINCELLS_HEADERS_TIMEOUT_MS'),
      maxConnectionsPerIp: read('BRAINCELLS_MAX_CONNECTIONS_PER_IP'),
      overflowConnectionsPerIp: read('BRAINCELLS_GATEWAY_CONNECTIONS_PER_IP'),
    },
    gateway: { concurrencyPerKey: read('BRAINCELLS_GATEWAY_CONCURRENCY_PER_KEY') },
    storageDir: ((dir) => (dir ? path.resolve(dir) : undefined))(read('BRAINCELLS_STORAGE_DIR')),
    datasets: {
      leaseTtlMs: read('BRAINCELLS_DATASET_LEASE_TTL'),
      internalUrl: read('BRAINCELLS_INTERNAL_URL')?.replace(/\/+$/, ''),
    },
    duckdb: {
      threads: read('BRAINCELLS_DUCKDB_THREADS'),
      memoryLimit: read('BRAINCELLS_DUCKDB_MEMORY_LIMIT'),
      connections: read('BRAINCELLS_DUCKDB_CONNECTIONS'),
      maxAttached: read('BRAINCELLS_DUCKDB_MAX_ATTACHED'),
      sandbox: {
        memoryBytes: read('BRAINCELLS_SQL_MEMORY_LIMIT'),
        processes: read('BRAINCELLS_SQL_PROCESSES'),
      },
    },
    logPrompts: read('BRAINCELLS_LOG_PROMPTS'),
    logLevel: read('LOG_LEVEL'),
    logFormat: read('LOG_FORMAT'),
    nodeEnv: read('NODE_ENV'),
    chat: { retentionDays: read('BRAINCELLS_CHAT_RETENTION_DAYS') },
    sheets: {
      importMaxBytes: read('BRAINCELLS_IMPORT_MAX_BYTES'),
      importMaxBadLineShare: read('BRAINCELLS_IMPORT_MAX_BAD_LINE_SHARE'),
      importAllowPrivateUrls: read('BRAINCELLS_IMPORT_ALLOW_PRIVATE_URLS'),
      importUploadRetentionHours: read('BRAINCELLS_IMPORT_UPLOAD_RETENTION_HOURS'),
      hfHubUrl: read('BRAINCELLS_HF_HUB_URL'),
      hfToken: read('HF_TOKEN'),
      retentionDays: read('BRAINCELLS_DATASET_RETENTION_DAYS'),
      sqlTimeoutMs: read('BRAINCELLS_SQL_TIMEOUT_MS'),
      sqlMaxRows: read('BRAINCELLS_SQL_MAX_ROWS'),
      formulaTimeoutMs: read('BRAINCELLS_FORMULA_TIMEOUT_MS'),
      formulaMaxValueBytes: read('BRAINCELLS_FORMULA_MAX_VALUE_BYTES'),
    },
    secret: {
      current: read('BRAINCELLS_SECRET'),
      previous: (read('BRAINCELLS_SECRET_PREVIOUS') ?? '')
        .split(',')
        .map((value) => value.trim())
        .filter(Boolean),
    },
    publicUrl: read('BRAINCELLS_PUBLIC_URL')?.replace(/\/+$/, ''),
    secureCookies: read('BRAINCELLS_SECURE_COOKIES'),
    corsOrigins: read('BRAINCELLS_CORS_ORIGINS') ?? [],
    monitor: {
      roots: read('BRAINCELLS_MONITOR_ROOTS') ?? [],
      maxOpen: read('BRAINCELLS_MONITOR_MAX_OPEN'),
    },
    documents: {
      maxFileBytes: read('BRAINCELLS_DOCUMENT_MAX_BYTES'),
      maxBatchBytes: read('BRAINCELLS_DOCUMENT_BATCH_MAX_BYTES'),
      extractTimeoutMs: read('BRAINCELLS_DOCUMENT_EXTRACT_TIMEOUT_MS'),
    },
    images: {
      maxBytes: read('BRAINCELLS_IMAGE_MAX_BYTES'),
      maxPixels: read('BRAINCELLS_IMAGE_MAX_PIXELS'),
      zipMaxBytes: read('BRAINCELLS_IMAGE_ZIP_MAX_BYTES'),
      sweepGraceHours: read('BRAINCELLS_IMAGE_SWEEP_GRACE_HOURS'),
    },
    remoteImages: read('BRAINCELLS_REMOTE_IMAGES'),
    session: {
      idleTimeoutMs: read('BRAINCELLS_SESSION_IDLE_TIMEOUT'),
      absoluteTimeoutMs: read('BRAINCELLS_SESSION_ABSOLUTE_TIMEOUT'),
    },
    rateLimit: {
      perIp: read('BRAINCELLS_RATE_LIMIT_PER_IP'),
      perUser: read('BRAINCELLS_RATE_LIMIT_PER_USER'),
      auth: read('BRAINCELLS_RATE_LIMIT_AUTH'),
      redisUrl: read('REDIS_URL'),
      redisCaFile: read('BRAINCELLS_REDIS_CA_FILE'),
    },
    login: {
      maxFailures: read('BRAINCELLS_LOGIN_MAX_FAILURES'),
      ipMaxFailures: read('BRAINCELLS_LOGIN_IP_MAX_FAILURES'),
      lockoutMs: read('BRAINCELLS_LOGIN_LOCKOUT'),
      delayMs: read('BRAINCELLS_LOGIN_DELAY_MS'),
    },
    smtp: { url: read('SMTP_URL'), from: read('SMTP_FROM') },
    llm: {
      env: {
        openaiApiKey: read('OPENAI_API_KEY'),
        openaiBaseUrl: read('OPENAI_BASE_URL'),
        anthropicApiKey: read('ANTHROPIC_API_KEY'),
        anthropicBaseUrl: read('ANTHROPIC_BASE_URL'),
        hfToken: read('HF_TOKEN'),
        compatibleBaseUrl: read('OPENAI_COMPATIBLE_BASE_URL'),
        compatibleApiKey: read('OPENAI_COMPATIBLE_API_KEY'),
      },
      maxAttempts: read('BRAINCELLS_LLM_MAX_ATTEMPTS'),
      retryBaseMs: read('BRAINCELLS_LLM_RETRY_BASE_MS'),
      retryMaxMs: read('BRAINCELLS_LLM_RETRY_MAX_MS'),
      maxRetryAfterMs: read('BRAINCELLS_LLM_MAX_RETRY_AFTER_MS'),
      timeouts: {
        firstChunkMs: read('BRAINCELLS_LLM_FIRST_CHUNK_TIMEOUT_MS'),
        idleMs: read('BRAINCELLS_LLM_IDLE_TIMEOUT_MS'),
        totalMs: read('BRAINCELLS_LLM_TOTAL_TIMEOUT_MS'),
      },
      featureTimeouts: read('BRAINCELLS_LLM_FEATURE_TIMEOUTS') ?? {},
      maxConcurrency: read('BRAINCELLS_LLM_MAX_CONCURRENCY'),
      requestsPerMinute: read('BRAINCELLS_LLM_REQUESTS_PER_MINUTE'),
      breakerFailures: read('BRAINCELLS_LLM_BREAKER_FAILURES'),
      breakerOpenMs: read('BRAINCELLS_LLM_BREAKER_OPEN_MS'),
      defaultMaxOutputTokens: read('BRAINCELLS_LLM_DEFAULT_MAX_OUTPUT_TOKENS'),
      cacheMemoryEntries: read('BRAINCELLS_LLM_CACHE_MEMORY_ENTRIES'),
      usageFlushMs: read('BRAINCELLS_LLM_USAGE_FLUSH_MS'),
    },
    generation: {
      concurrency: read('BRAINCELLS_GENERATION_CONCURRENCY'),
      runsPerProcess: read('BRAINCELLS_GENERATION_RUNS_PER_PROCESS'),
      confirmAboveNano: Math.round(read('BRAINCELLS_GENERATION_CONFIRM_ABOVE_USD') * 1e9),
      commitMs: read('BRAINCELLS_GENERATION_COMMIT_MS'),
      fewShotK: read('BRAINCELLS_GENERATION_FEW_SHOT_K'),
      fewShotTokens: read('BRAINCELLS_GENERATION_FEW_SHOT_TOKENS'),
      visionModels: read('BRAINCELLS_VISION_MODELS'),
      imageEditModels: read('BRAINCELLS_IMAGE_EDIT_MODELS'),
      search: {
        serperApiKey: read('SERPER_API_KEY'),
        braveApiKey: read('BRAVE_API_KEY'),
        tavilyApiKey: read('TAVILY_API_KEY'),
        searxngUrl: read('SEARXNG_URL')?.replace(/\/+$/, ''),
        results: read('BRAINCELLS_SEARCH_RESULTS'),
        cacheTtlMs: read('BRAINCELLS_SEARCH_CACHE_TTL'),
        timeoutMs: read('BRAINCELLS_SEARCH_TIMEOUT_MS'),
      },
    },
    telemetry: telemetryConfig(read),
  };
}

function telemetryConfig(read: <K extends keyof Settings>(name: K) => SettingValue<K>) {
  read('OTEL_EXPORTER_OTLP_PROTOCOL');
  const endpoint = read('OTEL_EXPORTER_OTLP_ENDPOINT');
  // The generic endpoint gets the signal's path appended; the traces endpoint is used as is
  // (OpenTelemetry specification, "OTLP Exporter Configuration").
  const tracesUrl =
    read('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ??
    (endpoint === undefined ? undefined : `${endpoint.replace(/\/+$/, '')}/v1/traces`);
  return {
    tracesUrl: read('OTEL_SDK_DISABLED') ? undefined : tracesUrl,
    headers: read('OTEL_EXPORTER_OTLP_HEADERS') ?? {},
    serviceName: read('OTEL_SERVICE_NAME'),
  };
}
