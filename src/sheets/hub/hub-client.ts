import { openAsBlob } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * The Hugging Face Hub's upload API, the calls a dataset publish makes (the shape the Hub's
 * own clients use: huggingface_hub's `create_commit`, @huggingface/hub's `commit`):
 *
 * 1. `GET /api/whoami-v2` — the token is accepted (401 otherwise);
 * 2. `POST /api/repos/create` `{type: "dataset", name, organization, private}` — 409 when the
 *    repository exists (then it is used as it is);
 * 3. `POST /api/datasets/<repo>/preupload/<revision>` — the Hub says, per file, whether it goes
 *    through LFS or inline in the commit;
 * 4. `POST /datasets/<repo>.git/info/lfs/objects/batch` (the Git LFS batch API,
 *    github.com/git-lfs/git-lfs docs/api/batch.md) — an object the Hub already holds comes back
 *    without `actions` and is not sent again; the others are PUT to the `upload` href, then
 *    POSTed to `verify` when given. We offer the `multipart` transfer too: for a large object
 *    (past the 5 GB a single PUT to the storage host takes) the Hub answers `chunk_size` and
 *    one presigned URL per part (`00001`, `00002`, … in the upload action's header); each part
 *    is PUT to its URL, and the parts' ETags are POSTed to the upload href to complete it;
 * 5. `POST /api/datasets/<repo>/commit/<revision>` — NDJSON: a `header` line, a `file` line per
 *    inline file (base64), an `lfsFile` line per LFS file. The commit is atomic: until it
 *    succeeds nothing of the publish is visible in the repository.
 *
 * Written on `fetch` (docs/decisions/2026-12-06-hub-client.md). The token goes only into the
 * Authorization header of requests to the configured Hub and is never part of an error.
 */
export interface HubClientOptions {
  /** The Hub's base URL, e.g. https://huggingface.co (BRAINCELLS_HF_HUB_URL). */
  baseUrl: string;
  token: string;
  fetch?: typeof fetch;
}

export interface HubFile {
  /** Path in the repository. */
  path: string;
  /** The local file. */
  file: string;
  sha256: string;
  size: number;
}

export interface HubCommitResult {
  commitOid: string;
  commitUrl: string;
}

/** What the Hub answered when it refused a call (status and its message, never the token). */
export class HubError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'HubError';
    this.status = status;
  }
}

/** Files at most this large may go inline in the commit when the Hub says `regular`. */
const MAX_INLINE_BYTES = 10 * 1024 * 1024;
const SAMPLE_BYTES = 512;
/** An answer's error message is read up to this many characters. */
const MAX_MESSAGE = 500;

async function sampleOf(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(SAMPLE_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, SAMPLE_BYTES, 0);
    return buffer.subarray(0, bytesRead).toString('base64');
  } finally {
    await handle.close();
  }
}

export function createHubClient(options: HubClientOptions) {
  const base = options.baseUrl.replace(/\/+$/, '');
  const request = options.fetch ?? fetch;
  const auth = { authorization: `Bearer ${options.token}` };
  /** The Hub's words, without anything that could be the token. */
  const clean = (text: string) =>
    text.split(options.token).join('***').replace(/\s+/g, ' ').trim().slice(0, MAX_MESSAGE);

  async function failure(response: Response, what: string): Promise<HubError> {
    const text = await response.text().catch(() => '');
    let message = text;
    try {
      const parsed = JSON.parse(text) as { error?: unknown; message?: unknown };
      message = String(parsed.error ?? parsed.message ?? text);
    } catch {
      // not JSON: the text as it is
    }
    const said = clean(message);
    return new HubError(
      response.status,
      `${what} failed: the Hub answered ${response.status}${said ? ` (${said})` : ''}`,
    );
  }

  async function call(
    what: string,
    path: string,
    init: RequestInit & { headers?: Record<string, string> },
  ): Promise<Response> {
    let response: Response;
    try {
      response = await request(`${base}${path}`, {
        ...init,
        headers: { ...auth, ...init.headers },
        redirect: 'error',
      });
    } catch (error) {
      throw new HubError(
        0,
        `${what} failed: the Hub could not be reached (${clean(String((error as Error).message))})`,
      );
    }
    if (!response.ok) throw await failure(response, what);
    return response;
  }

  const json = (body: unknown) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const repoPath = (repoId: string) =>
    repoId
      .split('/')
      .map((part) => encodeURIComponent(part))
      .join('/');

  return {
    /** The account the token belongs to; HubError 401 when the Hub refuses the token. */
    async whoami(): Promise<{ name: string }> {
      const response = await call('Checking the token', '/api/whoami-v2', { method: 'GET' });
      const body = (await response.json()) as { name?: unknown };
      return { name: String(body.name ?? '') };
    },

    /** Creates the dataset repository; false when it already exists (409). */
    async createRepo(repoId: string, isPrivate: boolean): Promise<boolean> {
      const [organization, name] = repoId.split('/') as [string, string];
      try {
        await call(
          'Creating the repository',
          '/api/repos/create',
          json({ type: 'dataset', name, organization, private: isPrivate }),
        );
        return true;
      } catch (error) {
        if (error instanceof HubError && error.status === 409) return false;
        throw error;
      }
    },

    /** Which files go through LFS (the others go inline in the commit). */
    async preupload(
      repoId: string,
      files: readonly HubFile[],
      revision = 'main',
    ): Promise<Map<string, 'lfs' | 'regular'>> {
      const payload = {
        files: await Promise.all(
          files.map(async (file) => ({
            path: file.path,
            size: file.size,
            sample: await sampleOf(file.file),
          })),
        ),
      };
      const response = await call(
        'Preparing the upload',
        `/api/datasets/${repoPath(repoId)}/preupload/${encodeURIComponent(revision)}`,
        json(payload),
      );
      const body = (await response.json()) as {
        files?: { path: string; uploadMode: string }[];
      };
      const modes = new Map<string, 'lfs' | 'regular'>();
      for (const file of files) {
        const answer = body.files?.find((entry) => entry.path === file.path);
        // Too large to go inline whatever the Hub says: LFS.
        modes.set(
          file.path,
          answer?.uploadMode === 'regular' && file.size <= MAX_INLINE_BYTES ? 'regular' : 'lfs',
        );
      }
      return modes;
    },

    /**
     * Sends the LFS objects the Hub does not hold yet. Objects it holds (from an earlier,
     * failed attempt) come back without actions and are skipped.
     */
    async uploadLfs(
      repoId: string,
      files: readonly HubFile[],
      revision = 'main',
    ): Promise<{ uploaded: number; skipped: number }> {
      if (files.length === 0) return { uploaded: 0, skipped: 0 };
      const response = await call(
        'Asking where to upload',
        `/datasets/${repoPath(repoId)}.git/info/lfs/objects/batch`,
        {
          method: 'POST',
          headers: {
            accept: 'application/vnd.git-lfs+json',
            'content-type': 'application/vnd.git-lfs+json',
          },
          body: JSON.stringify({
            operation: 'upload',
            transfers: ['basic', 'multipart'],
            hash_algo: 'sha256',
            ref: { name: `refs/heads/${revision}` },
            objects: files.map((file) => ({ oid: file.sha256, size: file.size })),
          }),
        },
      );
      const body = (await response.json()) as {
        objects?: {
          oid: string;
          actions?: {
            upload?: { href: string; header?: Record<string, string> };
            verify?: { href: string; header?: Record<string, string> };
          };
          error?: { code: number; message: string };
        }[];
      };
      let uploaded = 0;
      let skipped = 0;
      for (const file of files) {
        const answer = body.objects?.find((object) => object.oid === file.sha256);
        if (!answer)
          throw new HubError(502, `The Hub did not answer for ${file.path} in the LFS batch`);
        if (answer.error)
          throw new HubError(
            answer.error.code,
            `The Hub refused ${file.path}: ${clean(answer.error.message)}`,
          );
        const upload = answer.actions?.upload;
        if (!upload) {
          skipped++;
          continue;
        }
        if (upload.header?.chunk_size !== undefined) await uploadParts(file, upload);
        // A Blob backed by the file: streamed from disk with its Content-Length (a storage
        // host's signed PUT refuses chunked bodies).
        else
          await sendTo(`Uploading ${file.path}`, upload, {
            method: 'PUT',
            headers: {},
            body: await openAsBlob(file.file),
          });
        const verify = answer.actions?.verify;
        if (verify)
          await sendTo(`Verifying ${file.path}`, verify, {
            method: 'POST',
            headers: { 'content-type': 'application/vnd.git-lfs+json' },
            body: JSON.stringify({ oid: file.sha256, size: file.size }),
          });
        uploaded++;
      }
      return { uploaded, skipped };
    },

    /** One atomic commit of every file: inline ones as base64, LFS ones by their oid. */
    async commit(
      repoId: string,
      summary: string,
      files: readonly { file: HubFile; mode: 'lfs' | 'regular'; content?: Buffer }[],
      revision = 'main',
    ): Promise<HubCommitResult> {
      const lines: unknown[] = [{ key: 'header', value: { summary } }];
      for (const { file, mode, content } of files)
        lines.push(
          mode === 'regular'
            ? {
                key: 'file',
                value: {
                  path: file.path,
                  content: (content ?? Buffer.alloc(0)).toString('base64'),
                  encoding: 'base64',
                },
              }
            : {
                key: 'lfsFile',
                value: { path: file.path, algo: 'sha256', oid: file.sha256, size: file.size },
              },
        );
      const response = await call(
        'Committing',
        `/api/datasets/${repoPath(repoId)}/commit/${encodeURIComponent(revision)}`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body: lines.map((line) => JSON.stringify(line)).join('\n'),
        },
      );
      const body = (await response.json()) as { commitOid?: unknown; commitUrl?: unknown };
      return { commitOid: String(body.commitOid ?? ''), commitUrl: String(body.commitUrl ?? '') };
    },
  };

  /**
   * The Hub's multipart upload (huggingface_hub's `lfs.py`): the upload action's header holds
   * `chunk_size` and a presigned URL per part, keyed by its number; part n is bytes
   * [(n-1)·chunk_size, n·chunk_size) of the file, PUT to its URL with nothing of ours (the URL
   * is its own authorization); then `{oid, parts: [{partNumber, etag}]}` goes to the upload
   * href. A part count that does not fit the file's size is the Hub's error, refused before
   * any byte is sent.
   */
  async function uploadParts(
    file: HubFile,
    upload: { href: string; header?: Record<string, string> },
  ): Promise<void> {
    const header = upload.header ?? {};
    const chunkSize = Number(header.chunk_size);
    const urls = Object.entries(header)
      .filter(([key]) => /^\d+$/.test(key))
      .map(([key, href]) => ({ number: Number(key), href }))
      .sort((a, b) => a.number - b.number);
    if (
      !Number.isSafeInteger(chunkSize) ||
      chunkSize <= 0 ||
      urls.length !== Math.ceil(file.size / chunkSize) ||
      urls.some((part, index) => part.number !== index + 1)
    )
      throw new HubError(
        502,
        `The Hub's multipart answer for ${file.path} does not fit its size (${urls.length} parts of ${header.chunk_size} bytes for ${file.size})`,
      );
    const blob = await openAsBlob(file.file);
    const parts: { partNumber: number; etag: string }[] = [];
    for (const part of urls) {
      const what = `Uploading part ${part.number} of ${urls.length} of ${file.path}`;
      const start = (part.number - 1) * chunkSize;
      let response: Response;
      try {
        response = await request(part.href, {
          method: 'PUT',
          body: blob.slice(start, Math.min(file.size, start + chunkSize)),
          redirect: 'error',
        });
      } catch (error) {
        throw new HubError(
          0,
          `${what} failed: the storage host could not be reached (${clean(String((error as Error).message))})`,
        );
      }
      if (!response.ok) throw await failure(response, what);
      await response.arrayBuffer();
      const etag = response.headers.get('etag');
      if (!etag) throw new HubError(502, `${what}: the storage host answered no ETag`);
      parts.push({ partNumber: part.number, etag });
    }
    await sendTo(
      `Completing the upload of ${file.path}`,
      { href: upload.href },
      {
        method: 'POST',
        headers: {
          accept: 'application/vnd.git-lfs+json',
          'content-type': 'application/vnd.git-lfs+json',
        },
        body: JSON.stringify({ oid: file.sha256, parts }),
      },
    );
  }

  /**
   * An LFS action's href: its own headers. The token goes along only when the href is on the
   * configured Hub (a storage host the Hub points to is authorized by the action's headers).
   */
  async function sendTo(
    what: string,
    action: { href: string; header?: Record<string, string> },
    init: RequestInit & { headers: Record<string, string> },
  ): Promise<void> {
    const sameHub = new URL(action.href).origin === new URL(base).origin;
    let response: Response;
    try {
      response = await request(action.href, {
        ...init,
        headers: { ...(sameHub ? auth : {}), ...init.headers, ...(action.header ?? {}) },
        redirect: 'error',
      });
    } catch (error) {
      throw new HubError(
        0,
        `${what} failed: the Hub could not be reached (${clean(String((error as Error).message))})`,
      );
    }
    if (!response.ok) throw await failure(response, what);
    await response.arrayBuffer();
  }
}

export type HubClient = ReturnType<typeof createHubClient>;
