import { type CachedResponse, cacheKey, type ResponseCache } from '../../llm/llm-cache.ts';
import {
  editsImages,
  maxEditImages,
  type ProviderImageInput,
} from '../../llm/llm-image-provider.ts';
import type { ImageCallRequest, ImageCallResult, LlmImageService } from '../../llm/llm-images.ts';
import type { ProviderKind } from '../../llm/llm-provider.ts';
import { AppError, validationError } from '../../platform/app-error.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { ColumnRow } from '../sheet-store.ts';
import { type ImageReference, parseImageReference } from './image-reference.ts';
import type { ImageService } from './image-service.ts';
import { acceptsImages } from './image-vision.ts';

/**
 * Image generation columns (docs/images.md): an AI column of output type `image` sends its
 * rendered prompt to an image model (`llm/llm-images.ts`: router, budgets, usage rows) and
 * stores the answer like any imported image — probed by its magic bytes, held to the byte and
 * pixel limits, thumbnailed, linked to the project — so the cell holds a reference, never bytes.
 * A prompt that reads image columns transforms those images (image-to-image): their bytes go
 * to the provider's edit endpoint, and the result is cached by the prompt and the input bytes.
 */
export interface ImageGenerationRequest
  extends Pick<
    ImageCallRequest,
    'projectId' | 'userId' | 'entityIds' | 'provider' | 'model' | 'prompt' | 'size' | 'signal'
  > {
  /** The stored image's file name, without extension (the column and row). */
  name: string;
  /** Image-to-image: the row's images the prompt reads, in order of use. */
  inputs?: readonly ImageReference[] | undefined;
  /** An edit's cache: `use` (a new column) may answer from it, `bypass` (regenerate) asks again. */
  cache?: 'use' | 'bypass' | undefined;
}

export type ImageGenerationResult = Omit<ImageCallResult, 'image'> & {
  reference: ImageReference;
  cacheHit: boolean;
  /** What the cached call had cost (a hit's saving); null otherwise or when unknown. */
  savedNano: number | null;
};

/** What a run needs to fill an image cell. */
export interface ImageGenerationPort {
  generate(request: ImageGenerationRequest): Promise<ImageGenerationResult>;
}

const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/svg+xml': 'svg',
};

const withName = (reference: ImageReference, name: string): ImageReference => ({
  ...reference,
  name: `${name}.${EXTENSIONS[reference.mediaType] ?? 'img'}`,
});

export function createImageGeneration(deps: {
  llm: Pick<LlmImageService, 'generateImage'>;
  images: Pick<ImageService, 'storeImage' | 'readForModel'>;
  /** The LLM response cache (project-scoped), for edits; absent: edits are not cached. */
  cache?: Pick<ResponseCache, 'get' | 'put'> | undefined;
}): ImageGenerationPort {
  /** The input images' bytes as a model takes them (SVG as PNG); one the project lacks fails the cell. */
  async function readInputs(projectId: string, inputs: readonly ImageReference[]) {
    const held = await deps.images.readForModel(
      projectId,
      inputs.map((input) => input.sha256),
    );
    const read: ProviderImageInput[] = [];
    for (const input of inputs) {
      const image = held.get(input.sha256);
      if (!image)
        throw new AppError(
          'NOT_FOUND',
          `The image ${input.sha256.slice(0, 12)}… is not in this project`,
        );
      const { bytes, mediaType } = await image.read();
      read.push({
        bytes,
        mediaType,
        name: `image-${read.length + 1}.${EXTENSIONS[mediaType] ?? 'png'}`,
      });
    }
    return read;
  }

  /** A cached edit whose image the project still holds, or undefined. */
  async function cached(projectId: string, key: string): Promise<CachedResponse | undefined> {
    const hit = await deps.cache?.get(projectId, key);
    const reference = hit && parseImageReference(hit.output);
    if (!hit || !reference?.ok) return undefined;
    const held = await deps.images.readForModel(projectId, [reference.reference.sha256]);
    return held.has(reference.reference.sha256) ? hit : undefined;
  }

  return {
    async generate(request) {
      const { name, inputs = [], cache: cacheMode, ...call } = request;
      // Keyed by the input images' content hashes, so the same bytes under another name hit.
      const key =
        inputs.length > 0 && deps.cache
          ? cacheKey({
              projectId: request.projectId,
              providerRef: request.provider ?? '',
              model: request.model,
              parameters: { task: 'image-edit', size: request.size ?? null },
              messages: [
                {
                  role: 'user',
                  content: [
                    ...inputs.map((input) => ({ type: 'image', sha256: input.sha256 })),
                    { type: 'text', text: request.prompt },
                  ],
                },
              ],
              outputSchema: { type: 'image' },
            })
          : undefined;
      const hit = key && cacheMode === 'use' ? await cached(request.projectId, key) : undefined;
      if (hit)
        return {
          callId: uuidv7(),
          revisedPrompt: undefined,
          provider: hit.providerRef,
          providerKind: hit.providerKind,
          model: hit.model,
          // Nothing was called: no tokens on the run (the original call's cost is the saving).
          usage: {
            uncachedInputTokens: 0,
            cacheReadTokens: 0,
            cacheWriteTokens: 0,
            outputTokens: 0,
            reasoningTokens: 0,
          },
          costNano: 0,
          attempts: 0,
          latencyMs: 0,
          requestId: undefined,
          warnings: [],
          reference: withName(hit.output as ImageReference, name),
          cacheHit: true,
          savedNano: hit.costNano,
        };
      const images = inputs.length > 0 ? await readInputs(request.projectId, inputs) : undefined;
      const { image, ...result } = await deps.llm.generateImage({
        ...call,
        images,
        feature: 'sheet-image',
      });
      const stored = await deps.images.storeImage(request.projectId, {
        name: `${name}.img`,
        bytes: image,
      });
      // The provider's bytes are checked like an upload: not an image, over a limit or
      // truncated is the cell's error, and nothing is stored.
      if (!stored.ok)
        throw new AppError('PROVIDER_ERROR', `The generated image was refused: ${stored.reason}`, {
          details: { model: result.model, attempts: result.attempts },
        });
      if (key)
        deps.cache?.put(request.projectId, key, {
          text: '',
          output: stored.reference,
          finishReason: 'stop',
          providerRef: result.provider,
          providerKind: result.providerKind,
          model: result.model,
          usage: result.usage,
          costNano: result.costNano,
        });
      return {
        ...result,
        reference: withName(stored.reference, name),
        cacheHit: false,
        savedNano: null,
      };
    },
  };
}

/**
 * The models taken to transform images (image-to-image through the edit endpoint), by name
 * pattern like BRAINCELLS_VISION_MODELS: BRAINCELLS_IMAGE_EDIT_MODELS, default these.
 */
export const IMAGE_EDIT_MODEL_PATTERNS = [
  'gpt-image*',
  'dall-e-2',
  '*edit*',
  '*kontext*',
  '*img2img*',
  '*pix2pix*',
] as const;

/**
 * An image column's prompt may read image columns only when its model transforms images and
 * its connection (when named) has an edit endpoint; otherwise it is refused up front, 400
 * naming `prompt`, before any call.
 */
export function requireImageEditing(
  columns: readonly Pick<ColumnRow, 'id' | 'name' | 'type'>[],
  inputs: readonly string[],
  options: { model: string; patterns: readonly string[]; providerKind: ProviderKind | undefined },
): void {
  const images = columns.filter((column) => column.type === 'image' && inputs.includes(column.id));
  const image = images[0];
  if (!image) return;
  const refuse = (reason: string) => {
    throw validationError(
      `An image column's prompt reads ${image.name}, an image column: ${reason}`,
      [{ path: 'prompt', message: 'references an image column' }],
    );
  };
  if (options.providerKind && !editsImages(options.providerKind))
    refuse(`a ${options.providerKind} connection cannot transform images`);
  if (!acceptsImages(options.model, options.patterns))
    refuse(
      `${options.model} is not a model known to transform images (BRAINCELLS_IMAGE_EDIT_MODELS)`,
    );
  const most = maxEditImages(options.providerKind);
  if (images.length > most)
    refuse(
      most === 1
        ? `a ${options.providerKind} connection transforms one image at a time`
        : `an edit takes at most ${most} images`,
    );
}

/** The text an image model is sent: the column's instructions, then the rendered prompt. */
export const imagePrompt = (instructions: string, rendered: string) =>
  instructions.trim() === '' ? rendered : `${instructions.trim()}\n\n${rendered}`;
