import type { Actor } from '../access/actor.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import { AppError, notFound, validationError } from '../platform/app-error.ts';
import { sniffImage } from '../sheets/images/image-probe.ts';
import type { ImageService, IncomingImage } from '../sheets/images/image-service.ts';
import { acceptsImages, VISION_MODEL_PATTERNS } from '../sheets/images/image-vision.ts';
import type { AttachmentReference } from './chat-schema.ts';
import { findThread } from './chat-store.ts';
import type { ChatDb } from './chat-tables.ts';

/**
 * An image of a user message as stored in its `parts` (migration 1100 checks the shape): the
 * bytes are in the data dir's content-addressed image store, linked to the project.
 */
export interface ChatImagePart {
  type: 'image';
  sha256: string;
  mediaType: ChatImageMediaType;
  bytes: number;
  width: number;
  height: number;
  name: string | null;
  alt: string | null;
}

/**
 * The media types chat keeps: what models take as they are. SVG is refused (it can carry
 * script, and a model would get a rendering, not the file).
 */
export const CHAT_IMAGE_MEDIA_TYPES = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
] as const;
export type ChatImageMediaType = (typeof CHAT_IMAGE_MEDIA_TYPES)[number];
const isChatMediaType = (value: string): value is ChatImageMediaType =>
  (CHAT_IMAGE_MEDIA_TYPES as readonly string[]).includes(value);

/** The image parts among a message's stored parts. */
export function imagePartsOf(parts: unknown): ChatImagePart[] {
  if (!Array.isArray(parts)) return [];
  return parts.filter(
    (part): part is ChatImagePart =>
      part !== null && typeof part === 'object' && (part as { type?: unknown }).type === 'image',
  );
}

/**
 * Images in chat (docs/chat.md "Images"): uploads are checked and stored by the image service
 * the sheets' image columns use (magic bytes, decoded dimensions, byte and pixel limits), and
 * a send turns the hashes it names into image parts — only hashes the thread's project holds.
 */
export function createChatAttachments(deps: {
  db: ChatDb;
  access: ProjectAccess;
  images: Pick<ImageService, 'storeImage' | 'heldImages' | 'original' | 'thumbnail' | 'limits'>;
  /** Model name patterns taken to accept images (BRAINCELLS_VISION_MODELS). */
  visionModels?: readonly string[] | undefined;
}) {
  const { db, access, images } = deps;
  const patterns = deps.visionModels ?? VISION_MODEL_PATTERNS;

  const requireThread = async (projectId: string, threadId: string) => {
    const thread = await findThread(db, projectId, threadId);
    if (!thread) throw notFound('thread', threadId);
    return thread;
  };

  return {
    limits: images.limits,

    acceptsImages: (model: string) => acceptsImages(model, patterns),

    /** 400 naming `model` when the model is not known to accept images. */
    requireVision(model: string) {
      if (acceptsImages(model, patterns)) return;
      throw validationError(
        `${model} is not a model that accepts images (BRAINCELLS_VISION_MODELS); pick another model or remove the images`,
        [{ path: 'model', message: 'does not accept images' }],
      );
    },

    /**
     * Stores one image for a thread of the project (editor): 415 naming `file` when it is not a
     * PNG, JPEG, GIF or WebP by its bytes (SVG included), or its header lies, or it is truncated
     * or a decompression bomb; 413 over the byte limit. Nothing is written on a refusal.
     */
    async upload(actor: Actor, projectId: string, threadId: string, file: IncomingImage) {
      await access.requireRole(actor, projectId, 'editor');
      await requireThread(projectId, threadId);
      if (file.bytes.length <= images.limits.maxBytes) {
        const sniffed = sniffImage(file.bytes);
        if (sniffed === 'image/svg+xml')
          throw new AppError(
            'UNSUPPORTED_MEDIA_TYPE',
            'SVG images are not accepted in chat (PNG, JPEG, GIF or WebP)',
            { details: { field: 'file', reason: 'svg' } },
          );
      }
      const stored = await images.storeImage(projectId, file);
      if (!stored.ok)
        throw new AppError(
          stored.tooLarge ? 'PAYLOAD_TOO_LARGE' : 'UNSUPPORTED_MEDIA_TYPE',
          `${stored.name}: ${stored.reason}`,
          {
            details: {
              field: 'file',
              reason: stored.reason,
              ...(stored.tooLarge ? { maxBytes: images.limits.maxBytes } : {}),
            },
          },
        );
      const { reference } = stored;
      return {
        sha256: reference.sha256,
        mediaType: reference.mediaType,
        bytes: reference.bytes,
        width: reference.width,
        height: reference.height,
        name: reference.name ?? null,
      };
    },

    /**
     * The image parts a send's `attachments` name, in order: each must be an image the
     * project holds (uploaded to it) of a media type chat keeps; else 400 naming
     * `attachments.<i>.sha256`, and nothing is written.
     */
    async partsFor(
      projectId: string,
      references: readonly AttachmentReference[],
    ): Promise<ChatImagePart[]> {
      if (references.length === 0) return [];
      const held = await images.heldImages(
        projectId,
        references.map((reference) => reference.sha256),
      );
      return references.map((reference, index) => {
        const image = held.get(reference.sha256);
        if (!image || !isChatMediaType(image.mediaType))
          throw validationError('Attach images uploaded to this thread', [
            {
              path: `body.attachments.${index}.sha256`,
              message: image
                ? 'SVG images are not accepted in chat'
                : 'not an image of this project',
            },
          ]);
        const part: ChatImagePart = {
          type: 'image',
          ...image,
          mediaType: image.mediaType,
          name: reference.name ?? null,
          alt: reference.alt ?? null,
        };
        return part;
      });
    },

    /** The original bytes' file, for a viewer of a thread of the project that holds it (else 404). */
    async original(actor: Actor, projectId: string, threadId: string, sha256: string) {
      await access.requireRole(actor, projectId, 'viewer');
      await requireThread(projectId, threadId);
      return images.original(actor, projectId, sha256);
    },

    /** The WebP thumbnail (256 px a side at most), same checks as the original. */
    async thumbnail(actor: Actor, projectId: string, threadId: string, sha256: string) {
      await access.requireRole(actor, projectId, 'viewer');
      await requireThread(projectId, threadId);
      return images.thumbnail(actor, projectId, sha256);
    },
  };
}
export type ChatAttachments = ReturnType<typeof createChatAttachments>;
