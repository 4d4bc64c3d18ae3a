import type { ImageCallRequest, LlmImageService } from '../../llm/llm-images.ts';
import { AppError, validationError } from '../../platform/app-error.ts';
import type { ColumnRow } from '../sheet-store.ts';
import type { ImageReference } from './image-reference.ts';
import type { ImageService } from './image-service.ts';

/**
 * Image generation columns (docs/images.md): an AI column of output type `image` sends its
 * rendered prompt to an image model (`llm/llm-images.ts`: router, budgets, usage rows) and
 * stores the answer like any imported image — probed by its magic bytes, held to the byte and
 * pixel limits, thumbnailed, linked to the project — so the cell holds a reference, never bytes.
 */
export interface ImageGenerationRequest
  extends Pick<
    ImageCallRequest,
    'projectId' | 'userId' | 'entityIds' | 'provider' | 'model' | 'prompt' | 'size' | 'signal'
  > {
  /** The stored image's file name, without extension (the column and row). */
  name: string;
}

export type ImageGenerationResult = Awaited<ReturnType<LlmImageService['generateImage']>> & {
  reference: ImageReference;
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

export function createImageGeneration(deps: {
  llm: Pick<LlmImageService, 'generateImage'>;
  images: Pick<ImageService, 'storeImage'>;
}): ImageGenerationPort {
  return {
    async generate(request) {
      const { name, ...call } = request;
      const result = await deps.llm.generateImage({ ...call, feature: 'sheet-image' });
      const stored = await deps.images.storeImage(request.projectId, {
        name: `${name}.img`,
        bytes: result.image,
      });
      // The provider's bytes are checked like an upload: not an image, over a limit or
      // truncated is the cell's error, and nothing is stored.
      if (!stored.ok)
        throw new AppError('PROVIDER_ERROR', `The generated image was refused: ${stored.reason}`, {
          details: { model: result.model, attempts: result.attempts },
        });
      const extension = EXTENSIONS[stored.reference.mediaType] ?? 'img';
      return { ...result, reference: { ...stored.reference, name: `${name}.${extension}` } };
    },
  };
}

/**
 * An image column's prompt reads text columns only: image-to-image is not supported yet
 * (docs/images.md "Not yet"), so a prompt that references an image column is refused up front.
 */
export function refuseImageInputs(
  columns: readonly Pick<ColumnRow, 'id' | 'name' | 'type'>[],
  inputs: readonly string[],
): void {
  const image = columns.find((column) => column.type === 'image' && inputs.includes(column.id));
  if (!image) return;
  throw validationError(
    `An image column's prompt reads text; ${image.name} is an image column (image-to-image is not supported yet)`,
    [{ path: 'prompt', message: 'references an image column' }],
  );
}

/** The text an image model is sent: the column's instructions, then the rendered prompt. */
export const imagePrompt = (instructions: string, rendered: string) =>
  instructions.trim() === '' ? rendered : `${instructions.trim()}\n\n${rendered}`;
