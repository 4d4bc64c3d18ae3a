import { createHash, randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  anthropicErrorBody,
  anthropicMessagesProtocol,
  anthropicModelList,
} from './fake-llm-anthropic.ts';
import {
  createRandomSource,
  type FaultOptions,
  failuresForAttempt,
  jitteredLatency,
  parseFaults,
  retryAfterFor,
} from './fake-llm-faults.ts';
import {
  huggingFaceImageToImageResponse,
  isHuggingFaceImageToImage,
} from './fake-llm-image-to-image.ts';
import {
  type FakeImageAnswer,
  huggingFaceImageResponse,
  type ImageForm,
  imageEditResponse,
  imageFormRecord,
  imageGenerationResponse,
  readImageForm,
} from './fake-llm-images.ts';
import { openAiChatProtocol, openAiErrorBody, openAiModelList } from './fake-llm-openai.ts';
import { openAiResponsesProtocol } from './fake-llm-openai-responses.ts';
import { buildAnswer, countInputTokens } from './fake-llm-output.ts';
import {
  type Completion,
  type ErrorBody,
  isRecord,
  type ParsedRequest,
  type Protocol,
} from './fake-llm-protocol.ts';

export interface FakeLlmOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** Controls applied to every request; request headers and model suffixes override them. */
  defaults?: Partial<FaultOptions>;
  /** When set, requests must carry it (`Authorization: Bearer` or `x-api-key`) or get a 401. */
  apiKey?: string;
  /** Keep every request in `requests` (default true). Turn off for long benchmarks. */
  record?: boolean;
  /** Canned answers keyed on the prompt (see `FakeLlm.answerWhen`). */
  answers?: CannedAnswer[];
}

/**
 * A canned answer: when the last user message contains `match` (or matches it), the answer is
 * `output` verbatim (a function gets the message text), in every mode — e.g. the JSON an
 * extraction test expects. The first matching rule wins; an `output` control still overrides.
 */
export interface CannedAnswer {
  match: string | RegExp;
  output: string | ((lastUserText: string) => string);
}

/** One request as the server saw it. Mutated in place as the response progresses. */
export interface RecordedRequest {
  /** 1-based arrival order. */
  id: number;
  method: string;
  /** Path without the query string, as received. */
  path: string;
  /** Lower-cased names, as Node parses them; `authorization` and `x-api-key` are kept. */
  headers: IncomingHttpHeaders;
  /** Parsed JSON body; the raw text when it is not JSON; undefined without a body. */
  body: unknown;
  /** Base model name (suffix removed), once the body was read. */
  model: string | undefined;
  stream: boolean;
  /** Epoch milliseconds. */
  receivedAt: number;
  /** HTTP status sent, undefined while (or if) no headers were sent. */
  status: number | undefined;
  /** The whole response was handed to the socket. */
  completed: boolean;
  /** The client closed the connection before the response ended. */
  aborted: boolean;
  /** Epoch milliseconds when the exchange closed; undefined while in flight. */
  endedAt: number | undefined;
}

export interface FakeLlmStats {
  received: number;
  completed: number;
  aborted: number;
  inFlight: number;
  /** The most requests open at once since start or the last `reset()`. */
  maxInFlight: number;
}

export interface FakeLlm {
  /** e.g. `http://127.0.0.1:41234`; providers take `${url}/v1` as their base URL. */
  url: string;
  port: number;
  /** Every request received since start or the last `reset()` (empty with `record: false`). */
  requests: RecordedRequest[];
  /** Clears recorded requests, `fail-times` counters, jitter sequences and stats. */
  reset(): void;
  /** Requests whose exchange is still open (streaming, waiting or hung). */
  inFlight(): number;
  stats(): FakeLlmStats;
  /**
   * Resolves with the first recorded request matching `predicate`, re-checked whenever a request
   * arrives or ends; rejects after `timeoutMs` (default 2000).
   */
  waitFor(
    predicate: (request: RecordedRequest, requests: readonly RecordedRequest[]) => boolean,
    timeoutMs?: number,
  ): Promise<RecordedRequest>;
  /** Adds a canned answer (after those given before); kept across `reset()`. */
  answerWhen(match: string | RegExp, output: CannedAnswer['output']): void;
  /** Removes every canned answer. */
  clearAnswers(): void;
  /** Stops listening and destroys every open connection, hung ones included. */
  close(): Promise<void>;
}

type Family = 'openai' | 'anthropic';

interface Route {
  /** The path without `/v1` and trailing slashes, e.g. `/chat/completions`. */
  name: string;
  family: Family;
  protocol: Protocol | undefined;
}

/** Per-exchange state: the one pending timer and how the exchange ended. */
interface Exchange {
  response: ServerResponse;
  record: RecordedRequest | undefined;
  family: Family;
  requestId: string;
  timer: NodeJS.Timeout | undefined;
  wake: ((alive: boolean) => void) | undefined;
  closed: boolean;
  destroyedByServer: boolean;
}

interface Waiter {
  predicate: (request: RecordedRequest, requests: readonly RecordedRequest[]) => boolean;
  resolve: (request: RecordedRequest) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

const maxBodyBytes = 32 * 1024 * 1024;
const maxFailureKeys = 10_000;

export async function startFakeLlm(options: FakeLlmOptions = {}): Promise<FakeLlm> {
  const host = options.host ?? '127.0.0.1';
  const recording = options.record ?? true;
  const defaults = options.defaults ?? {};
  const tag = randomBytes(4).toString('hex');
  const requests: RecordedRequest[] = [];
  const waiters = new Set<Waiter>();
  const failureCounts = new Map<string, number>();
  const jitterSources = new Map<string, () => number>();
  const canned: CannedAnswer[] = [...(options.answers ?? [])];
  const cannedFor = (text: string): string | undefined => {
    const rule = canned.find((candidate) =>
      typeof candidate.match === 'string'
        ? text.includes(candidate.match)
        : candidate.match.test(text),
    );
    if (!rule) return undefined;
    return typeof rule.output === 'string' ? rule.output : rule.output(text);
  };
  const stats: FakeLlmStats = {
    received: 0,
    completed: 0,
    aborted: 0,
    inFlight: 0,
    maxInFlight: 0,
  };
  let sequence = 0;

  const nextId = () => `${tag}${(++sequence).toString(36).padStart(6, '0')}`;

  function notify(): void {
    if (waiters.size === 0) return;
    for (const waiter of waiters) {
      const match = requests.find((request) => waiter.predicate(request, requests));
      if (match) {
        waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(match);
      }
    }
  }

  function attemptFor(key: string): number {
    const attempt = (failureCounts.get(key) ?? 0) + 1;
    if (!failureCounts.has(key) && failureCounts.size >= maxFailureKeys) {
      const oldest = failureCounts.keys().next().value;
      if (oldest !== undefined) failureCounts.delete(oldest);
    }
    failureCounts.set(key, attempt);
    return attempt;
  }

  function randomFor(seed: string | undefined): () => number {
    if (seed === undefined) return Math.random;
    let source = jitterSources.get(seed);
    if (!source) {
      source = createRandomSource(seed);
      jitterSources.set(seed, source);
    }
    return source;
  }

  function onClose(exchange: Exchange): void {
    exchange.closed = true;
    if (exchange.timer) clearTimeout(exchange.timer);
    exchange.wake?.(false);
    exchange.timer = undefined;
    exchange.wake = undefined;
    stats.inFlight -= 1;
    const completed = exchange.response.writableFinished;
    const aborted = !completed && !exchange.destroyedByServer;
    if (completed) stats.completed += 1;
    if (aborted) stats.aborted += 1;
    const record = exchange.record;
    if (record) {
      record.completed = completed;
      record.aborted = aborted;
      record.endedAt = Date.now();
      notify();
    }
  }

  /** Resolves true after `ms`, or false as soon as the exchange closes. */
  function wait(exchange: Exchange, ms: number): Promise<boolean> {
    if (exchange.closed) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      exchange.wake = resolve;
      exchange.timer = setTimeout(() => {
        exchange.timer = undefined;
        exchange.wake = undefined;
        resolve(true);
      }, ms);
    });
  }

  function send(
    exchange: Exchange,
    status: number,
    body: string | Buffer,
    headers: Record<string, string> = {},
  ): void {
    if (exchange.closed) return;
    const idHeader = exchange.family === 'anthropic' ? 'request-id' : 'x-request-id';
    exchange.response.writeHead(status, {
      'content-type': 'application/json',
      [idHeader]: exchange.requestId,
      ...headers,
    });
    exchange.response.end(body);
    if (exchange.record) exchange.record.status = status;
  }

  function sendError(
    exchange: Exchange,
    status: number,
    message?: string,
    code?: string,
    headers?: Record<string, string>,
  ): void {
    const errorBody: ErrorBody =
      exchange.family === 'anthropic' ? anthropicErrorBody : openAiErrorBody;
    send(exchange, status, errorBody(status, message, code), headers);
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    stats.received += 1;
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    const receivedAt = Date.now();
    const path = (request.url ?? '/').split('?', 1)[0] as string;
    const route = findRoute(path, request.headers);
    const exchange: Exchange = {
      response,
      record: undefined,
      family: route.family,
      requestId: `req_${nextId()}`,
      timer: undefined,
      wake: undefined,
      closed: false,
      destroyedByServer: false,
    };
    response.once('close', () => onClose(exchange));

    let rawBytes: Buffer | undefined;
    try {
      rawBytes = await readBody(request);
    } catch {
      return; // the client went away mid-upload; onClose counts it
    }
    if (rawBytes === undefined) return sendError(exchange, 413);
    const contentType = String(request.headers['content-type'] ?? '');
    // Image edits are multipart (binary files): read as a form, recorded by the files' digests.
    const form = /^multipart\/form-data/i.test(contentType)
      ? await readImageForm(rawBytes, contentType)
      : undefined;
    const rawBody = form ? '' : rawBytes.toString('utf8');
    let body: unknown = form ? imageFormRecord(form) : undefined;
    let bodyIsJson = false;
    if (rawBody !== '') {
      try {
        body = JSON.parse(rawBody);
        bodyIsJson = true;
      } catch {
        body = rawBody;
      }
    }
    if (recording) {
      exchange.record = {
        id: stats.received,
        method: request.method ?? 'GET',
        path,
        headers: request.headers,
        body,
        model: undefined,
        stream: false,
        receivedAt,
        status: undefined,
        completed: false,
        aborted: false,
        endedAt: undefined,
      };
      requests.push(exchange.record);
      notify();
    }

    const authProblem = checkAuth(request.headers, route, path, options.apiKey);
    if (authProblem) return sendError(exchange, authProblem.status, authProblem.message);

    if (route.name === '/models' && request.method === 'GET') {
      return send(
        exchange,
        200,
        route.family === 'anthropic' ? anthropicModelList() : openAiModelList(),
      );
    }
    if (request.method === 'POST') {
      const image = imageRoute(route.name, body, form);
      if (image) return answerImage(exchange, request.headers, route.name, image);
    }
    const protocol = route.protocol;
    if (!protocol || request.method !== 'POST') {
      return sendError(exchange, 404, `Invalid URL (${request.method} ${path})`, 'unknown_url');
    }
    if (!bodyIsJson) {
      return sendError(
        exchange,
        400,
        'We could not parse the JSON body of your request. The body must be valid JSON.',
      );
    }
    const parsed = protocol.parseRequest(body);
    if ('invalid' in parsed) return sendError(exchange, 400, parsed.invalid);

    const faultResult = parseFaults({ model: parsed.model, headers: request.headers, defaults });
    if (exchange.record) {
      exchange.record.model = faultResult.baseModel;
      exchange.record.stream = parsed.stream;
    }
    if (!faultResult.ok) return sendError(exchange, 400, faultResult.message);
    const baseModel = faultResult.baseModel;
    if (baseModel.startsWith('unknown-')) {
      return route.family === 'anthropic'
        ? sendError(exchange, 404, `model: ${baseModel}`)
        : sendError(
            exchange,
            404,
            `The model \`${baseModel}\` does not exist or you do not have access to it.`,
            'model_not_found',
          );
    }

    let faults = faultResult.faults;
    if (faults.failTimes !== undefined) {
      const key = faults.key ?? promptKey(route.name, baseModel, parsed);
      faults = failuresForAttempt(faults, attemptFor(key));
    }
    if (faults.outputTimes !== undefined && faults.output !== undefined) {
      // Counted apart from fail-times, so both can apply to the same requests.
      const key = `output\0${faults.key ?? promptKey(route.name, baseModel, parsed)}`;
      if (attemptFor(key) > faults.outputTimes) faults = { ...faults, output: undefined };
    }
    if (faults.hang) return; // accepted, never answered; close() or the client ends it

    const latency = jitteredLatency(faults, randomFor(faults.seed));
    if (!(await wait(exchange, latency))) return;

    // With error-after, `status` picks the in-stream error instead of failing up front.
    if (faults.status !== undefined && faults.errorAfter === undefined) {
      const retryAfter = retryAfterFor(faults, faults.status);
      const headers: Record<string, string> = {};
      if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
      if (faults.retryAfterMs !== undefined)
        headers['retry-after-ms'] = String(faults.retryAfterMs);
      return sendError(exchange, faults.status, undefined, undefined, headers);
    }

    // `vary`: the n-th request of a key (counted like fail-times) answers as for `prompt#n`.
    const variant = faults.vary
      ? attemptFor(`vary\0${faults.key ?? promptKey(route.name, baseModel, parsed)}`)
      : undefined;
    const completion = complete(protocol, parsed, faults, baseModel, body, variant);
    if (parsed.stream) return streamCompletion(exchange, protocol, completion, faults);
    return answerCompletion(exchange, protocol, completion, faults);
  }

  /**
   * The image routes (fake-llm-images.ts) — `images/generations`, `images/edits` and Hugging
   * Face text-to-image — with the latency, status, hang and fail-times faults of the model.
   */
  async function answerImage(
    exchange: Exchange,
    headers: IncomingHttpHeaders,
    routeName: string,
    image: ImageRequest,
  ): Promise<void> {
    const faultResult = parseFaults({ model: image.model, headers, defaults });
    if (!faultResult.ok) return sendError(exchange, 400, faultResult.message);
    if (exchange.record) exchange.record.model = faultResult.baseModel;
    let faults = faultResult.faults;
    if (faults.failTimes !== undefined) {
      const key = faults.key ?? `${routeName}\0${faultResult.baseModel}\0${image.prompt}`;
      faults = failuresForAttempt(faults, attemptFor(key));
    }
    if (faults.hang) return; // accepted, never answered; close() or the client ends it
    if (!(await wait(exchange, jitteredLatency(faults, randomFor(faults.seed))))) return;
    if (faults.status !== undefined) return sendError(exchange, faults.status);
    const answer = image.answer();
    if (answer.status === 400) return sendError(exchange, 400, answer.message);
    return send(
      exchange,
      200,
      answer.body,
      answer.contentType ? { 'content-type': answer.contentType } : {},
    );
  }

  function complete(
    protocol: Protocol,
    parsed: ParsedRequest,
    faults: FaultOptions,
    model: string,
    body: unknown,
    variant: number | undefined,
  ): Completion {
    const mode =
      faults.json && parsed.mode.kind === 'text'
        ? { kind: 'json' as const, schema: undefined }
        : parsed.mode;
    const prompt =
      variant === undefined
        ? parsed.prompt
        : { ...parsed.prompt, lastUserText: `${parsed.prompt.lastUserText}#${variant}` };
    const answer = buildAnswer({
      prompt,
      mode,
      output: faults.output ?? cannedFor(parsed.prompt.lastUserText),
      maxTokens: parsed.maxTokens,
    });
    const id = nextId();
    return {
      id: `${protocol.idPrefix}${id}`,
      toolCallId: `${protocol.toolIdPrefix}${id}`,
      model,
      created: Math.floor(Date.now() / 1000),
      answer,
      usage: faults.noUsage
        ? undefined
        : {
            inputTokens: countInputTokens(parsed.prompt.texts),
            outputTokens: answer.pieces.length,
            cacheReadTokens: faults.cacheReadTokens,
            cacheWriteTokens: faults.cacheWriteTokens,
            reasoningTokens: faults.reasoningTokens,
          },
      includeUsage: parsed.includeUsage,
      request: body as Record<string, unknown>,
    };
  }

  async function answerCompletion(
    exchange: Exchange,
    protocol: Protocol,
    completion: Completion,
    faults: FaultOptions,
  ): Promise<void> {
    // Without streaming, generation time is still paid before the body arrives.
    if (faults.tokensPerSecond !== undefined) {
      const generation = (completion.answer.pieces.length / faults.tokensPerSecond) * 1000;
      if (!(await wait(exchange, generation))) return;
    }
    if (faults.hangAfter !== undefined) return;
    if (faults.disconnectAfter !== undefined) {
      exchange.destroyedByServer = true;
      exchange.response.destroy();
      return;
    }
    if (faults.errorAfter !== undefined) return sendError(exchange, faults.status ?? 500);
    const body = protocol.body(completion);
    if (faults.malformedAfter !== undefined) {
      return send(exchange, 200, body.slice(0, Math.floor(body.length / 2)));
    }
    send(exchange, 200, body);
  }

  async function streamCompletion(
    exchange: Exchange,
    protocol: Protocol,
    completion: Completion,
    faults: FaultOptions,
  ): Promise<void> {
    const { response } = exchange;
    const pieces = completion.answer.pieces;
    const encoder = protocol.stream(completion);
    const stop = streamStop(faults, pieces.length);
    const malformedAt =
      faults.malformedAfter === undefined ? -1 : Math.min(faults.malformedAfter, pieces.length);
    const interval = faults.tokensPerSecond === undefined ? 0 : 1000 / faults.tokensPerSecond;

    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      [exchange.family === 'anthropic' ? 'request-id' : 'x-request-id']: exchange.requestId,
    });
    if (exchange.record) exchange.record.status = 200;

    let out = encoder.open();
    const startedAt = performance.now();
    for (let index = 0; index <= pieces.length; index++) {
      if (index === malformedAt) out += encoder.malformed();
      if (stop && index === stop.at) {
        if (stop.kind === 'error') {
          response.end(out + encoder.error(faults.status));
        } else if (stop.kind === 'disconnect') {
          exchange.destroyedByServer = true;
          response.write(out, () => response.destroy());
        } else {
          response.write(out); // hang: stay open until the client or close() ends it
        }
        return;
      }
      if (index === pieces.length) break;
      if (interval > 0 && index > 0) {
        // Pieces are due at fixed offsets from the first; late ticks catch up in one write.
        const delay = startedAt + index * interval - performance.now();
        if (delay >= 1) {
          response.write(out);
          out = '';
          if (!(await wait(exchange, delay))) return;
        }
      }
      out += encoder.piece(pieces[index] as string);
    }
    if (!exchange.closed) response.end(out + encoder.close());
  }

  const server = createServer({ noDelay: true }, (request, response) => {
    handle(request, response).catch((error: unknown) => {
      console.error('fake-llm: unexpected error', error);
      if (!response.headersSent) {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(openAiErrorBody(500));
      } else {
        response.destroy();
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    requests,
    reset() {
      requests.length = 0;
      failureCounts.clear();
      jitterSources.clear();
      stats.received = 0;
      stats.completed = 0;
      stats.aborted = 0;
      stats.maxInFlight = stats.inFlight;
    },
    inFlight: () => stats.inFlight,
    stats: () => ({ ...stats }),
    answerWhen(match, output) {
      canned.push({ match, output });
    },
    clearAnswers() {
      canned.length = 0;
    },
    waitFor(predicate, timeoutMs = 2_000) {
      if (!recording) {
        return Promise.reject(new Error('fake-llm: waitFor needs recording (record: true)'));
      }
      const match = requests.find((request) => predicate(request, requests));
      if (match) return Promise.resolve(match);
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          predicate,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(waiter);
            reject(
              new Error(
                `fake-llm: waitFor timed out after ${timeoutMs} ms (${requests.length} requests recorded)`,
              ),
            );
          }, timeoutMs),
        };
        waiters.add(waiter);
      });
    },
    close() {
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error('fake-llm: server closed'));
      }
      waiters.clear();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** An image request: the model (with its fault suffixes), the prompt, and how to answer it. */
interface ImageRequest {
  model: string;
  prompt: string;
  answer: () => FakeImageAnswer;
}

const HUGGING_FACE_MODELS = '/hf-inference/models/';

/** The image route a request is for, or undefined (`route` is the path without `/v1`). */
function imageRoute(
  route: string,
  body: unknown,
  form: ImageForm | undefined,
): ImageRequest | undefined {
  const text = (value: unknown, fallback: string) => (typeof value === 'string' ? value : fallback);
  if (route === '/images/generations') {
    const record: Record<string, unknown> = isRecord(body) ? body : {};
    return {
      model: text(record.model, 'fake-image'),
      prompt: text(record.prompt, ''),
      answer: () => imageGenerationResponse(body),
    };
  }
  if (route === '/images/edits')
    return {
      model: form?.fields.model ?? 'fake-image',
      prompt: form?.fields.prompt ?? '',
      answer: () => imageEditResponse(form),
    };
  if (route.startsWith(HUGGING_FACE_MODELS)) {
    let model: string;
    try {
      model = decodeURIComponent(route.slice(HUGGING_FACE_MODELS.length));
    } catch {
      model = route.slice(HUGGING_FACE_MODELS.length);
    }
    if (isHuggingFaceImageToImage(body))
      return {
        model,
        prompt: text((body as { parameters: { prompt: string } }).parameters.prompt, ''),
        answer: () => huggingFaceImageToImageResponse(body),
      };
    return {
      model,
      prompt: isRecord(body) ? text(body.inputs, '') : '',
      answer: () => huggingFaceImageResponse(body),
    };
  }
  return undefined;
}

function findRoute(path: string, headers: IncomingHttpHeaders): Route {
  // Accept both `${url}/v1/...` and `${url}/...` base URLs.
  const normalized = (path.startsWith('/v1/') ? path.slice(3) : path).replace(/\/+$/, '');
  switch (normalized) {
    case '/chat/completions':
      return { name: normalized, family: 'openai', protocol: openAiChatProtocol };
    case '/responses':
      return { name: normalized, family: 'openai', protocol: openAiResponsesProtocol };
    case '/messages':
      return { name: normalized, family: 'anthropic', protocol: anthropicMessagesProtocol };
    default:
      // Anthropic clients always send anthropic-version; use it to answer in their format.
      return {
        name: normalized,
        family: headers['anthropic-version'] !== undefined ? 'anthropic' : 'openai',
        protocol: undefined,
      };
  }
}

function checkAuth(
  headers: IncomingHttpHeaders,
  route: Route,
  path: string,
  apiKey: string | undefined,
): { status: number; message: string } | undefined {
  const authorization = headers.authorization;
  const bearer = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
  const headerKey = typeof headers['x-api-key'] === 'string' ? headers['x-api-key'] : undefined;
  if (route.family === 'anthropic') {
    const presented = headerKey ?? bearer;
    if (presented === undefined) return { status: 401, message: 'x-api-key header is required' };
    if (apiKey !== undefined && presented !== apiKey) {
      return { status: 401, message: 'invalid x-api-key' };
    }
    if (route.protocol && headers['anthropic-version'] === undefined) {
      return { status: 400, message: 'anthropic-version: header is required' };
    }
    return undefined;
  }
  if (apiKey === undefined) return undefined;
  if (bearer === undefined) {
    return {
      status: 401,
      message:
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
    };
  }
  if (bearer !== apiKey) {
    const shown = bearer.length > 8 ? `${bearer.slice(0, 3)}***${bearer.slice(-4)}` : '***';
    return { status: 401, message: `Incorrect API key provided: ${shown} (${path}).` };
  }
  return undefined;
}

/** Which piece (clamped to the end) a stopping fault fires at; the earliest one wins. */
function streamStop(
  faults: FaultOptions,
  pieceCount: number,
): { at: number; kind: 'error' | 'disconnect' | 'hang' } | undefined {
  const candidates: { at: number | undefined; kind: 'error' | 'disconnect' | 'hang' }[] = [
    { at: faults.errorAfter, kind: 'error' },
    { at: faults.disconnectAfter, kind: 'disconnect' },
    { at: faults.hangAfter, kind: 'hang' },
  ];
  let stop: { at: number; kind: 'error' | 'disconnect' | 'hang' } | undefined;
  for (const candidate of candidates) {
    if (candidate.at === undefined) continue;
    const at = Math.min(candidate.at, pieceCount);
    if (!stop || at < stop.at) stop = { at, kind: candidate.kind };
  }
  return stop;
}

/** Requests "with the same prompt" share a `fail-times` counter: endpoint, model and text. */
function promptKey(route: string, model: string, parsed: ParsedRequest): string {
  const hash = createHash('sha256').update(route).update('\0').update(model);
  for (const text of parsed.prompt.texts) hash.update('\0').update(text);
  return hash.digest('base64');
}

/** The body's bytes, or undefined when it exceeds the limit (the rest is drained unread). */
async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size <= maxBodyBytes) chunks.push(chunk as Buffer);
  }
  if (size > maxBodyBytes) return undefined;
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}
