import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the Hugging Face Hub's upload API (the calls src/sheets/hub/hub-client.ts
 * makes): whoami, repository creation, preupload, the Git LFS batch API with upload and verify
 * actions, and the NDJSON commit. It keeps what it receives in memory so tests can read the
 * repository back, applies a commit atomically (an LFS file the store does not hold refuses
 * the whole commit), and can be told to fail a step (`failNext`). With `multipartChunkSize`, an
 * object larger than it goes through the Hub's multipart transfer (the way the Hub sends files
 * over 5 GB): a presigned URL per part, each answering an ETag, then a completion call.
 */
export type FakeHubStep =
  | 'whoami'
  | 'create'
  | 'preupload'
  | 'batch'
  | 'upload'
  | 'verify'
  | 'commit'
  | 'part'
  | 'complete';

export interface FakeHubFile {
  content: Buffer;
  /** Stored through LFS (else inline in the commit). */
  lfs: boolean;
}

export interface FakeHubRepo {
  id: string;
  private: boolean;
  owner: string;
  files: Map<string, FakeHubFile>;
  /** LFS objects received for this repository, by sha256 (uploaded, not necessarily committed). */
  objects: Map<string, Buffer>;
  commits: { oid: string; summary: string; paths: string[] }[];
}

export interface FakeHubRequest {
  method: string;
  path: string;
  /** Whether an Authorization header came with it (its value is never kept). */
  authorized: boolean;
}

export interface FakeHub {
  url: string;
  /** Accepted tokens → account; a test removes one to revoke it. */
  tokens: Map<string, string>;
  repos: Map<string, FakeHubRepo>;
  /** Every LFS object the server accepted (a PUT, or a completed multipart upload), in order. */
  uploads: { repo: string; oid: string }[];
  /** Every multipart part PUT the server accepted, in order. */
  parts: { repo: string; oid: string; partNumber: number; bytes: number }[];
  requests: FakeHubRequest[];
  /** The next `times` calls of `step` answer `status` (default 500). */
  failNext(step: FakeHubStep, options?: { status?: number; times?: number }): void;
  close(): Promise<void>;
}

export interface FakeHubOptions {
  port?: number;
  host?: string;
  /** Accepted tokens and the account each belongs to. */
  tokens?: Record<string, string>;
  /**
   * Objects larger than this many bytes go through the multipart transfer, in parts of this
   * size, when the client offers it (the Hub's threshold is gigabytes; tests set a few bytes).
   */
  multipartChunkSize?: number;
}

const LFS_TYPES = /\.(parquet|arrow|bin|zip|png|jpe?g|webp|gif)$/i;

async function readBody(request: IncomingMessage, limit = 512 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function send(response: ServerResponse, status: number, body: unknown, type = 'application/json') {
  response.writeHead(status, { 'content-type': type });
  response.end(JSON.stringify(body));
}

export async function startFakeHub(options: FakeHubOptions = {}): Promise<FakeHub> {
  const tokens = new Map(Object.entries(options.tokens ?? { 'hf-fake-hub-token': 'tester' }));
  const repos = new Map<string, FakeHubRepo>();
  const uploads: { repo: string; oid: string }[] = [];
  const parts: FakeHub['parts'] = [];
  /** Multipart uploads under way: `<repo>/<oid>` → the parts received, by number. */
  const partsReceived = new Map<string, Map<number, { content: Buffer; etag: string }>>();
  const chunkSize = options.multipartChunkSize;
  const requests: FakeHubRequest[] = [];
  const failures = new Map<FakeHubStep, { status: number; times: number }>();
  let url = '';

  const failing = (step: FakeHubStep, response: ServerResponse): boolean => {
    const failure = failures.get(step);
    if (!failure || failure.times <= 0) return false;
    failure.times--;
    send(response, failure.status, { error: `fake-hub: ${step} failed as told` });
    return true;
  };

  /** The account of the request's token; answers 401 and returns undefined when there is none. */
  const account = (request: IncomingMessage, response: ServerResponse): string | undefined => {
    const header = request.headers.authorization ?? '';
    const name = header.startsWith('Bearer ') ? tokens.get(header.slice(7)) : undefined;
    if (!name) send(response, 401, { error: 'Invalid credentials in Authorization header' });
    return name;
  };

  /** The repository a request names, if its account may write to it. */
  const writable = (repoId: string, user: string, response: ServerResponse) => {
    const repo = repos.get(repoId);
    if (!repo) {
      send(response, 404, { error: 'Repository not found' });
      return undefined;
    }
    if (repo.owner !== user) {
      send(response, 403, { error: 'You are not allowed to write to this repository' });
      return undefined;
    }
    return repo;
  };

  /** A multipart upload action's header: `chunk_size` and a presigned URL per part. */
  const multipartHeader = (
    repoId: string,
    object: { oid: string; size: number },
    signature: string,
  ): Record<string, string> => {
    const size = chunkSize ?? object.size;
    const header: Record<string, string> = { chunk_size: String(size) };
    for (let part = 1; part <= Math.ceil(object.size / size); part++)
      header[String(part).padStart(5, '0')] =
        `${url}/lfs-part/${repoId}/${object.oid}/${part}?signature=${signature}`;
    return header;
  };

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const path = (request.url ?? '/').split('?')[0]!;
    requests.push({
      method: request.method ?? '',
      path,
      authorized: request.headers.authorization !== undefined,
    });
    let match: RegExpMatchArray | null = null;

    if (request.method === 'GET' && path === '/api/whoami-v2') {
      if (failing('whoami', response)) return;
      const user = account(request, response);
      if (user) send(response, 200, { type: 'user', name: user });
      return;
    }
    if (request.method === 'POST' && path === '/api/repos/create') {
      if (failing('create', response)) return;
      const user = account(request, response);
      if (!user) return;
      const body = JSON.parse((await readBody(request)).toString('utf8')) as {
        type?: string;
        name?: string;
        organization?: string;
        private?: boolean;
      };
      if (body.type !== 'dataset' || !body.name)
        return send(response, 400, { error: 'type must be dataset and name is required' });
      const owner = body.organization ?? user;
      if (owner !== user)
        return send(response, 403, { error: 'You cannot create repositories there' });
      const id = `${owner}/${body.name}`;
      if (repos.has(id))
        return send(response, 409, {
          error: 'You already created this dataset repo',
          url: `${url}/datasets/${id}`,
        });
      repos.set(id, {
        id,
        owner,
        private: body.private === true,
        files: new Map(),
        objects: new Map(),
        commits: [],
      });
      return send(response, 200, { url: `${url}/datasets/${id}`, name: id });
    }
    match =
      request.method === 'POST'
        ? path.match(/^\/api\/datasets\/([^/]+\/[^/]+)\/preupload\/([^/]+)$/)
        : null;
    if (match) {
      if (failing('preupload', response)) return;
      const user = account(request, response);
      if (!user || !writable(decodeURIComponent(match[1]!), user, response)) return;
      const body = JSON.parse((await readBody(request)).toString('utf8')) as {
        files: { path: string; size: number; sample: string }[];
      };
      return send(response, 200, {
        files: body.files.map((file) => ({
          path: file.path,
          uploadMode:
            LFS_TYPES.test(file.path) ||
            file.size > 10 * 1024 * 1024 ||
            Buffer.from(file.sample, 'base64').includes(0)
              ? 'lfs'
              : 'regular',
          shouldIgnore: false,
        })),
      });
    }
    match =
      request.method === 'POST'
        ? path.match(/^\/datasets\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/)
        : null;
    if (match) {
      if (failing('batch', response)) return;
      const user = account(request, response);
      const repo = user ? writable(decodeURIComponent(match[1]!), user, response) : undefined;
      if (!repo) return;
      const body = JSON.parse((await readBody(request)).toString('utf8')) as {
        operation: string;
        transfers?: string[];
        objects: { oid: string; size: number }[];
      };
      const multipart = (size: number) =>
        chunkSize !== undefined && size > chunkSize && body.transfers?.includes('multipart');
      if (body.operation !== 'upload') return send(response, 400, { error: 'upload only' });
      // A per-upload secret in the href, as a storage host's signed URL would carry.
      const signature = randomBytes(8).toString('hex');
      return send(
        response,
        200,
        {
          transfer: 'basic',
          objects: body.objects.map((object) =>
            repo.objects.has(object.oid)
              ? { oid: object.oid, size: object.size }
              : multipart(object.size)
                ? {
                    oid: object.oid,
                    size: object.size,
                    authenticated: true,
                    actions: {
                      upload: {
                        href: `${url}/lfs-multipart-complete/${repo.id}/${object.oid}`,
                        header: multipartHeader(repo.id, object, signature),
                      },
                      verify: { href: `${url}/lfs-verify/${repo.id}` },
                    },
                  }
                : {
                    oid: object.oid,
                    size: object.size,
                    authenticated: true,
                    actions: {
                      upload: {
                        href: `${url}/lfs-storage/${repo.id}/${object.oid}?signature=${signature}`,
                        header: { 'x-fake-size': String(object.size) },
                      },
                      verify: { href: `${url}/lfs-verify/${repo.id}` },
                    },
                  },
          ),
        },
        'application/vnd.git-lfs+json',
      );
    }
    match =
      request.method === 'PUT'
        ? path.match(/^\/lfs-storage\/([^/]+\/[^/]+)\/([0-9a-f]{64})$/)
        : null;
    if (match) {
      if (failing('upload', response)) return;
      const repo = repos.get(decodeURIComponent(match[1]!));
      if (!repo) return send(response, 404, { error: 'Repository not found' });
      const content = await readBody(request);
      const oid = match[2]!;
      if (createHash('sha256').update(content).digest('hex') !== oid)
        return send(response, 400, { error: 'the content does not match its oid' });
      if (String(content.length) !== request.headers['x-fake-size'])
        return send(response, 400, { error: 'the content does not match its size' });
      repo.objects.set(oid, content);
      uploads.push({ repo: repo.id, oid });
      response.writeHead(200).end();
      return;
    }
    match =
      request.method === 'PUT'
        ? path.match(/^\/lfs-part\/([^/]+\/[^/]+)\/([0-9a-f]{64})\/(\d+)$/)
        : null;
    if (match) {
      if (failing('part', response)) return;
      // Presigned: the URL is the authorization; a token sent along is a leak.
      if (request.headers.authorization !== undefined)
        return send(response, 400, { error: 'a presigned part URL takes no Authorization' });
      const repo = repos.get(decodeURIComponent(match[1]!));
      if (!repo) return send(response, 404, { error: 'Repository not found' });
      const oid = match[2]!;
      const partNumber = Number(match[3]);
      const content = await readBody(request);
      const key = `${repo.id}/${oid}`;
      const received = partsReceived.get(key) ?? new Map();
      partsReceived.set(key, received);
      const etag = `"${createHash('md5').update(content).digest('hex')}"`;
      received.set(partNumber, { content, etag });
      parts.push({ repo: repo.id, oid, partNumber, bytes: content.length });
      response.writeHead(200, { etag }).end();
      return;
    }
    match =
      request.method === 'POST'
        ? path.match(/^\/lfs-multipart-complete\/([^/]+\/[^/]+)\/([0-9a-f]{64})$/)
        : null;
    if (match) {
      if (failing('complete', response)) return;
      const user = account(request, response);
      const repo = user ? writable(decodeURIComponent(match[1]!), user, response) : undefined;
      if (!repo) return;
      const oid = match[2]!;
      const body = JSON.parse((await readBody(request)).toString('utf8')) as {
        oid: string;
        parts: { partNumber: number; etag: string }[];
      };
      const received = partsReceived.get(`${repo.id}/${oid}`);
      if (body.oid !== oid || !received || body.parts.length !== received.size)
        return send(response, 400, { error: 'the parts do not match the upload' });
      const pieces: Buffer[] = [];
      for (const [index, part] of body.parts.entries()) {
        const held = received.get(part.partNumber);
        if (part.partNumber !== index + 1 || !held || held.etag !== part.etag)
          return send(response, 400, { error: `part ${part.partNumber} does not match` });
        if (index < body.parts.length - 1 && held.content.length !== chunkSize)
          return send(response, 400, { error: `part ${part.partNumber} is not chunk_size long` });
        pieces.push(held.content);
      }
      const content = Buffer.concat(pieces);
      if (createHash('sha256').update(content).digest('hex') !== oid)
        return send(response, 400, { error: 'the content does not match its oid' });
      partsReceived.delete(`${repo.id}/${oid}`);
      repo.objects.set(oid, content);
      uploads.push({ repo: repo.id, oid });
      return send(response, 200, { message: 'completed' });
    }
    match = request.method === 'POST' ? path.match(/^\/lfs-verify\/([^/]+\/[^/]+)$/) : null;
    if (match) {
      if (failing('verify', response)) return;
      const user = account(request, response);
      const repo = user ? writable(decodeURIComponent(match[1]!), user, response) : undefined;
      if (!repo) return;
      const body = JSON.parse((await readBody(request)).toString('utf8')) as {
        oid: string;
        size: number;
      };
      const object = repo.objects.get(body.oid);
      if (!object || object.length !== body.size)
        return send(response, 404, { error: 'object not found' });
      return send(response, 200, { message: 'verified' });
    }
    match =
      request.method === 'POST'
        ? path.match(/^\/api\/datasets\/([^/]+\/[^/]+)\/commit\/([^/]+)$/)
        : null;
    if (match) {
      if (failing('commit', response)) return;
      const user = account(request, response);
      if (!user) return;
      const repo = writable(decodeURIComponent(match[1]!), user, response);
      if (!repo) return;
      if (!(request.headers['content-type'] ?? '').startsWith('application/x-ndjson'))
        return send(response, 400, { error: 'send the commit as application/x-ndjson' });
      const lines = (await readBody(request))
        .toString('utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as { key: string; value: Record<string, unknown> });
      const header = lines.find((line) => line.key === 'header');
      if (!header || typeof header.value.summary !== 'string')
        return send(response, 400, { error: 'a commit starts with a header with a summary' });
      // Everything is checked before anything is applied: a commit is atomic.
      const changes = new Map<string, FakeHubFile>();
      for (const line of lines) {
        if (line.key === 'file') {
          const value = line.value as { path: string; content: string; encoding: string };
          if (value.encoding !== 'base64')
            return send(response, 400, { error: 'inline files are base64' });
          changes.set(value.path, { content: Buffer.from(value.content, 'base64'), lfs: false });
        } else if (line.key === 'lfsFile') {
          const value = line.value as { path: string; oid: string; size: number };
          const object = repo.objects.get(value.oid);
          if (!object || object.length !== value.size)
            return send(response, 422, { error: `LFS object ${value.oid} was never uploaded` });
          changes.set(value.path, { content: object, lfs: true });
        } else if (line.key !== 'header')
          return send(response, 400, { error: `unknown line ${line.key}` });
      }
      for (const [name, file] of changes) repo.files.set(name, file);
      const oid = randomBytes(20).toString('hex');
      repo.commits.push({ oid, summary: header.value.summary, paths: [...changes.keys()] });
      return send(response, 200, {
        success: true,
        commitOid: oid,
        commitUrl: `${url}/datasets/${repo.id}/commit/${oid}`,
      });
    }
    send(response, 404, { error: `fake-hub: no route ${request.method} ${path}` });
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 400, { error: String((error as Error).message) });
      else response.destroy();
    });
  });
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve),
  );
  const address = server.address() as AddressInfo;
  url = `http://${options.host ?? '127.0.0.1'}:${address.port}`;
  return {
    url,
    tokens,
    repos,
    uploads,
    parts,
    requests,
    failNext(step, failure = {}) {
      failures.set(step, { status: failure.status ?? 500, times: failure.times ?? 1 });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
