import type { LlmContentPart, LlmMessage } from '../../llm/llm-provider.ts';
import type { LlmService } from '../../llm/llm-service.ts';
import { AppError, validationError } from '../../platform/app-error.ts';
import { referencedColumnIds } from '../column-refs.ts';
import type { CellValue } from '../sheet-schema.ts';
import type { ColumnRow } from '../sheet-store.ts';
import { type ImageReference, parseImageReference } from './image-reference.ts';
import type { ImageService } from './image-service.ts';

/**
 * Vision columns (docs/images.md "Vision columns"): a prompt that references an image column
 * sends each referenced image as an image part. A cell prompt carries the image by hash in an
 * internal URL (`braincells-image:<sha256>`); the LLM port only ever sees the bytes, fetched
 * for the run's project just before the call (withImageInputs). So the same bytes give the
 * same messages, hence the same cache key, and a reference copied from another project finds
 * nothing to send.
 */
export const IMAGE_URL_PREFIX = 'braincells-image:';

/** The image references among a row's values for a template's inputs, in order of use. */
export function imageInputs(
  template: string,
  values: Readonly<Record<string, CellValue>>,
): ImageReference[] {
  const images: ImageReference[] = [];
  for (const id of referencedColumnIds(template)) {
    const parsed = parseImageReference(values[id]);
    if (parsed.ok) images.push(parsed.reference);
  }
  return images;
}

/** The image part a cell prompt sends for one image (resolved by withImageInputs). */
export const imagePart = (image: ImageReference): LlmContentPart => ({
  type: 'image',
  url: `${IMAGE_URL_PREFIX}${image.sha256}`,
  mediaType: image.mediaType,
});

/**
 * A cell's image as prompt text, where `{{Photo}}` stands in the prompt. Not its file name:
 * the bytes alone make the call, so identical images hit the cache whatever they are called
 * (a prompt that wants the name references the file-name column).
 */
export const imageText = (_image: ImageReference) => '[image]';

/** What image inputs read from the image service: the project's images among some hashes. */
export type ImageSource = Pick<ImageService, 'readForModel'>;

type PreparedImage = { url: string; mediaType: string } | undefined;

/** Encoded images kept for the calls to come (oldest dropped first past this many bytes). */
const PREPARED_BYTES = 128 * 1024 * 1024;

/**
 * Images made ready for calls (docs/images.md "Vision columns"): `prepare` looks up a batch of
 * hashes for a project in one query and reads, converts (SVG → PNG) and encodes their bytes as
 * data URLs in the background, so a run prepares the cells after those in flight while their
 * calls wait on the model, and a call finds its image ready instead of queueing a database
 * read, a file read and an encoding in front of its request. `resolve` turns the internal URLs
 * of a request's user messages into those data URLs, preparing what was not. Entries are per
 * project and hash (one project never reads another's), dropped oldest first past
 * PREPARED_BYTES, and a hash the project does not hold is not remembered (a later link is seen).
 */
export function createPreparedImages(source: ImageSource, options: { budgetBytes?: number } = {}) {
  const budget = options.budgetBytes ?? PREPARED_BYTES;
  const entries = new Map<
    string,
    { ready: Promise<PreparedImage>; bytes: number; settled: boolean }
  >();
  let held = 0;
  const pending = new Map<string, Map<string, (lookup: Promise<PreparedImage>) => void>>();
  let flushing = false;
  /**
   * What the bench reads: lookups (queries), images read and encoded, and calls whose image
   * was ready when they asked against calls that had to wait for it.
   */
  const counters = { lookups: 0, prepared: 0, ready: 0, waited: 0 };

  const keyOf = (projectId: string, sha256: string) => `${projectId}:${sha256}`;

  function keep(key: string, bytes: number) {
    const entry = entries.get(key);
    if (!entry) return;
    entry.bytes = bytes;
    entry.settled = true;
    held += bytes;
    for (const [oldest, candidate] of entries) {
      if (held <= budget || oldest === key) break;
      if (candidate.bytes === 0) continue;
      held -= candidate.bytes;
      entries.delete(oldest);
    }
  }

  function forget(key: string, ready: Promise<PreparedImage>) {
    const entry = entries.get(key);
    if (entry?.ready !== ready) return;
    held -= entry.bytes;
    entries.delete(key);
  }

  /** One lookup per project for every hash asked for since the last one. */
  async function flush() {
    const batches = [...pending];
    pending.clear();
    flushing = false;
    for (const [projectId, waiting] of batches) {
      counters.lookups++;
      const found = source.readForModel(projectId, [...waiting.keys()]);
      for (const [sha256, settle] of waiting)
        settle(
          found.then(async (images) => {
            const image = images.get(sha256);
            if (!image) return undefined;
            const { bytes, mediaType } = await image.read();
            counters.prepared++;
            return { url: `data:${mediaType};base64,${bytes.toString('base64')}`, mediaType };
          }),
        );
    }
  }

  function entry(projectId: string, sha256: string) {
    const key = keyOf(projectId, sha256);
    const known = entries.get(key);
    if (known) {
      // Used again: the newest, so the last to be dropped.
      entries.delete(key);
      entries.set(key, known);
      return known;
    }
    let settle!: (lookup: Promise<PreparedImage>) => void;
    const ready = new Promise<PreparedImage>((resolve) => {
      settle = (lookup) => resolve(lookup);
    });
    const made = { ready, bytes: 0, settled: false };
    entries.set(key, made);
    ready.then(
      (image) => (image ? keep(key, image.url.length) : forget(key, ready)),
      () => forget(key, ready),
    );
    const waiting = pending.get(projectId) ?? new Map();
    pending.set(projectId, waiting);
    waiting.set(sha256, settle);
    if (!flushing) {
      flushing = true;
      setImmediate(() => void flush());
    }
    return made;
  }

  /** Starts getting these images ready for the project's calls (nothing waits on it). */
  function prepare(projectId: string, images: Iterable<ImageReference>): void {
    // A failure is the call's to report, when it asks.
    for (const image of images) entry(projectId, image.sha256).ready.catch(() => {});
  }

  /**
   * The request with its internal image URLs replaced by data URLs of the project's bytes. A
   * hash the project does not hold fails the call (the cell's error), naming the image, before
   * anything is sent.
   */
  async function resolve<R extends { projectId: string; messages: LlmMessage[] }>(
    request: R,
  ): Promise<R> {
    if (!request.messages.some(hasImageUrl)) return request;
    const messages: LlmMessage[] = [];
    for (const message of request.messages) {
      if (message.role !== 'user' || typeof message.content === 'string') {
        messages.push(message);
        continue;
      }
      const content: LlmContentPart[] = [];
      for (const part of message.content) {
        if (part.type !== 'image' || !part.url.startsWith(IMAGE_URL_PREFIX)) {
          content.push(part);
          continue;
        }
        const sha256 = part.url.slice(IMAGE_URL_PREFIX.length);
        const prepared = entry(request.projectId, sha256);
        if (prepared.settled) counters.ready++;
        else counters.waited++;
        const image = await prepared.ready;
        if (!image)
          throw new AppError(
            'NOT_FOUND',
            `The image ${sha256.slice(0, 12)}… is not in this project`,
          );
        content.push({ type: 'image', url: image.url, mediaType: image.mediaType });
      }
      messages.push({ ...message, content });
    }
    return { ...request, messages };
  }

  return { prepare, resolve, counters };
}
export type PreparedImages = ReturnType<typeof createPreparedImages>;

/** The LLM service a run calls, with image inputs resolved (createPreparedImages) before each call. */
export function withImageInputs<T extends Pick<LlmService, 'generate' | 'stream'>>(
  llm: T,
  inputs: Pick<PreparedImages, 'resolve'>,
): T {
  type Request = Parameters<T['generate']>[0];
  return {
    ...llm,
    generate: async (request: Request) => llm.generate(await inputs.resolve(request)),
    stream: (request: Request) =>
      (async function* () {
        yield* llm.stream(await inputs.resolve(request));
      })(),
  } as T;
}

const hasImageUrl = (message: LlmMessage) =>
  message.role === 'user' &&
  typeof message.content !== 'string' &&
  message.content.some((part) => part.type === 'image' && part.url.startsWith(IMAGE_URL_PREFIX));

/**
 * The models taken to accept images, by name pattern (`*` any characters, case-insensitive):
 * BRAINCELLS_VISION_MODELS, default VISION_MODEL_PATTERNS. One list for every provider, kept
 * simple on purpose (docs/images.md): a provider's catalog does not say.
 */
export const VISION_MODEL_PATTERNS = [
  'gpt-4o*',
  'gpt-4.1*',
  'gpt-5*',
  'o1*',
  'o3*',
  'o4*',
  'claude-3*',
  'claude-sonnet-4*',
  'claude-opus-4*',
  'claude-haiku-4*',
  'gemini*',
  'gemma-3*',
  '*vision*',
  '*-vl*',
  'llava*',
  'pixtral*',
  'llama-4*',
] as const;

export function acceptsImages(model: string, patterns: readonly string[]): boolean {
  const name = model.split('/').pop()!.toLowerCase();
  return patterns.some((pattern) =>
    new RegExp(
      `^${pattern
        .toLowerCase()
        .split('*')
        .map((piece) => piece.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    ).test(name),
  );
}

/**
 * Refuses, before any call, a prompt that reads an image column with a model not known to
 * accept images: 400 naming `model`.
 */
export function requireVisionModel(
  columns: readonly Pick<ColumnRow, 'id' | 'name' | 'type'>[],
  inputs: readonly string[],
  model: string,
  patterns: readonly string[],
): void {
  const image = columns.find((column) => column.type === 'image' && inputs.includes(column.id));
  if (!image || acceptsImages(model, patterns)) return;
  throw validationError(
    `The prompt reads the image column ${image.name}, and ${model} is not a model that accepts images (BRAINCELLS_VISION_MODELS)`,
    [{ path: 'model', message: 'does not accept images' }],
  );
}
