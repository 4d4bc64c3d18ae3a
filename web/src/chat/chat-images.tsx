import { type ClipboardEvent, type DragEvent, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/api-error.ts';
import { type ChatAttachment, type ChatImagePart, type ChatPart, chatApi } from './chat-api.ts';

/**
 * Images in chat (docs/chat.md "Images"): the composer's attachments — picked with the attach
 * button, pasted or dropped, uploaded at once, each a chip with its preview and a remove
 * button, refusals shown beside it — and a message's images as thumbnails that open full size.
 */

/** What the composer accepts; the server checks the bytes again (and refuses SVG). */
const ACCEPTED = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
export const MAX_MESSAGE_IMAGES = 8;

export interface PendingImage {
  key: string;
  file: File;
  preview: string;
  status: 'uploading' | 'ready' | 'error';
  attachment?: ChatAttachment;
  error?: string;
}

let counter = 0;

/** The composer's images: add files (upload starts at once), remove, clear after a send. */
export function useImageAttachments(projectId: string, threadId: string) {
  const [images, setImages] = useState<PendingImage[]>([]);
  const imagesRef = useRef(images);
  imagesRef.current = images;
  // Previews are object URLs: released when a chip goes and when the thread closes.
  useEffect(
    () => () => {
      for (const image of imagesRef.current) URL.revokeObjectURL(image.preview);
    },
    [],
  );
  const update = (key: string, change: Partial<PendingImage>) =>
    setImages((current) =>
      current.map((image) => (image.key === key ? { ...image, ...change } : image)),
    );

  const add = (files: Iterable<File>) => {
    const room = MAX_MESSAGE_IMAGES - imagesRef.current.length;
    const added: PendingImage[] = [];
    for (const file of [...files].slice(0, Math.max(0, room))) {
      const key = `image-${++counter}`;
      const pending: PendingImage = {
        key,
        file,
        preview: URL.createObjectURL(file),
        status: ACCEPTED.includes(file.type) ? 'uploading' : 'error',
        ...(ACCEPTED.includes(file.type) ? {} : { error: 'Not a PNG, JPEG, GIF or WebP image' }),
      };
      added.push(pending);
      if (pending.status === 'uploading')
        chatApi.uploadAttachment(projectId, threadId, file).then(
          (attachment) => update(key, { status: 'ready', attachment }),
          (error: unknown) =>
            update(key, {
              status: 'error',
              error: error instanceof ApiError ? error.message : 'The upload failed',
            }),
        );
    }
    setImages((current) => [...current, ...added]);
  };

  const remove = (key: string) =>
    setImages((current) => {
      const gone = current.find((image) => image.key === key);
      if (gone) URL.revokeObjectURL(gone.preview);
      return current.filter((image) => image.key !== key);
    });

  const clear = () =>
    setImages((current) => {
      for (const image of current) URL.revokeObjectURL(image.preview);
      return [];
    });

  return {
    images,
    add,
    remove,
    clear,
    /** Uploaded and none failed or still uploading: what a send carries. */
    ready: images.every((image) => image.status === 'ready'),
    attachments: images.flatMap((image) => (image.attachment ? [image.attachment] : [])),
  };
}
export type ImageAttachments = ReturnType<typeof useImageAttachments>;

/** The image files of a paste or a drop. */
const imageFiles = (list: FileList | null | undefined) =>
  [...(list ?? [])].filter((file) => file.type.startsWith('image/'));

/** Paste and drop handlers for the composer (text pastes are left alone). */
export function attachmentEvents(images: ImageAttachments) {
  return {
    onPaste(event: ClipboardEvent) {
      const files = imageFiles(event.clipboardData?.files);
      if (files.length === 0) return;
      event.preventDefault();
      images.add(files);
    },
    onDragOver(event: DragEvent) {
      if ([...event.dataTransfer.types].includes('Files')) event.preventDefault();
    },
    onDrop(event: DragEvent) {
      const files = imageFiles(event.dataTransfer.files);
      if (files.length === 0) return;
      event.preventDefault();
      images.add(files);
    },
  };
}

/** The attach button (a labelled file input) and the chips of the images to send. */
export function AttachmentPicker({
  images,
  disabled,
}: {
  images: ImageAttachments;
  disabled: boolean;
}) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <input
        ref={input}
        type="file"
        accept={ACCEPTED.join(',')}
        multiple
        hidden
        data-testid="attach-input"
        onChange={(event) => {
          images.add(imageFiles(event.target.files));
          event.target.value = '';
        }}
      />
      <button
        type="button"
        className="button chat-attach"
        aria-label="Attach images"
        title="Attach images (or paste, or drop them here)"
        disabled={disabled || images.images.length >= MAX_MESSAGE_IMAGES}
        onClick={() => input.current?.click()}
      >
        📎
      </button>
    </>
  );
}

export function AttachmentChips({ images }: { images: ImageAttachments }) {
  if (images.images.length === 0) return null;
  return (
    <ul className="chat-attachments" aria-label="Images to send">
      {images.images.map((image) => (
        <li
          key={image.key}
          className="chat-attachment"
          data-status={image.status}
          data-testid="attachment-chip"
        >
          <img src={image.preview} alt="" width={48} height={48} />
          <span className="chat-attachment-name">{image.file.name}</span>
          {image.status === 'uploading' && <span className="muted">uploading…</span>}
          {image.error && (
            <span className="chat-attachment-error" role="alert">
              {image.error}
            </span>
          )}
          <button
            type="button"
            className="link-button"
            aria-label={`Remove ${image.file.name}`}
            onClick={() => images.remove(image.key)}
          >
            ✕
          </button>
        </li>
      ))}
    </ul>
  );
}

/** A message's images: thumbnails (our server's, 256 px) linking to the original. */
export function MessageImages({
  projectId,
  threadId,
  parts,
}: {
  projectId: string;
  threadId: string;
  parts: ChatPart[];
}) {
  // The same image attached twice is shown once.
  const images = [
    ...new Map(
      parts
        .filter((part): part is ChatImagePart => part.type === 'image')
        .map((part) => [part.sha256, part]),
    ).values(),
  ];
  if (images.length === 0) return null;
  return (
    <ul className="chat-images" aria-label="Images">
      {images.map((image) => {
        const label = image.alt ?? image.name ?? 'Image';
        return (
          <li key={image.sha256}>
            <a
              href={chatApi.attachmentUrl(projectId, threadId, image.sha256)}
              target="_blank"
              rel="noopener noreferrer"
              aria-label={`Open ${label} full size (${image.width}×${image.height})`}
              data-testid="message-image"
            >
              <img
                src={chatApi.attachmentUrl(projectId, threadId, image.sha256, true)}
                alt={label}
                loading="lazy"
                width={Math.min(160, image.width)}
                height={Math.round(
                  (Math.min(160, image.width) / Math.max(1, image.width)) * image.height,
                )}
              />
            </a>
          </li>
        );
      })}
    </ul>
  );
}

/** A reply's reasoning (stored apart from its text, never sent back): closed by default. */
export function ReasoningPart({ reasoning }: { reasoning: string | null }) {
  if (!reasoning) return null;
  return (
    <details className="chat-reasoning" data-testid="reasoning">
      <summary>Reasoning</summary>
      <p>{reasoning}</p>
    </details>
  );
}
