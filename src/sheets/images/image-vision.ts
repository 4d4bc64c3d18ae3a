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

/** Media types models take as they are; others (SVG) are sent as their PNG rendering. */
const MODEL_MEDIA_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/**
 * Wraps the LLM service a run calls: internal image URLs in user messages become data URLs
 * of the project's bytes. A hash the project does not hold fails the call (the cell's error),
 * naming the image, before anything is sent.
 */
export function withImageInputs<T extends Pick<LlmService, 'generate' | 'stream'>>(
  llm: T,
  images: Pick<ImageService, 'readForModel'>,
): T {
  type Request = Parameters<T['generate']>[0];
  const resolve = async (request: Request): Promise<Request> => {
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
        const image = await images.readForModel(request.projectId, sha256);
        if (!image)
          throw new AppError(
            'NOT_FOUND',
            `The image ${sha256.slice(0, 12)}… is not in this project`,
          );
        const bytes = MODEL_MEDIA_TYPES.has(image.mediaType) ? image.bytes : await image.png();
        const mediaType = MODEL_MEDIA_TYPES.has(image.mediaType) ? image.mediaType : 'image/png';
        content.push({
          type: 'image',
          url: `data:${mediaType};base64,${bytes.toString('base64')}`,
          mediaType,
        });
      }
      messages.push({ ...message, content });
    }
    return { ...request, messages };
  };
  return {
    ...llm,
    generate: async (request: Request) => llm.generate(await resolve(request)),
    stream: (request: Request) =>
      (async function* () {
        yield* llm.stream(await resolve(request));
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
