import { createHash } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';
import { isRecord } from './fake-llm-protocol.ts';

/**
 * Images in the fake (docs/images.md): image inputs are "seen" as a digest of their bytes, so a
 * test can tell which image a model was sent; image generation answers deterministic PNGs.
 */

/** The first 16 hex digits of the SHA-256 of the bytes an image part carries. */
export const imageDigest = (bytes: Buffer) =>
  createHash('sha256').update(bytes).digest('hex').slice(0, 16);

/** What the fake reads for an image part: `[image:<digest>]`, a URL's digest taken of its text. */
function seen(url: string): string {
  // The header alone goes through the pattern: the payload (hundreds of KB) is sliced once.
  const comma = url.indexOf(',');
  const header = comma < 0 ? null : /^data:[^;,]*(;base64)?$/.exec(url.slice(0, comma));
  if (!header) return `[image-url:${imageDigest(Buffer.from(url))}]`;
  const payload = url.slice(comma + 1);
  const bytes = header[1]
    ? Buffer.from(payload, 'base64')
    : Buffer.from(decodeURIComponent(payload));
  return `[image:${imageDigest(bytes)}]`;
}

/**
 * The text an image part of any protocol reads as, or undefined for other parts: OpenAI chat
 * `{type: 'image_url', image_url: {url}}`, OpenAI Responses `{type: 'input_image', image_url}`,
 * Anthropic `{type: 'image', source: {type: 'base64', media_type, data} | {type: 'url', url}}`.
 */
export function imagePartText(part: Record<string, unknown>): string | undefined {
  if (part.type === 'image_url') {
    const image = part.image_url;
    const url = typeof image === 'string' ? image : isRecord(image) ? image.url : undefined;
    return typeof url === 'string' ? seen(url) : undefined;
  }
  if (part.type === 'input_image' && typeof part.image_url === 'string')
    return seen(part.image_url);
  if (part.type === 'image' && isRecord(part.source)) {
    const source = part.source;
    if (source.type === 'base64' && typeof source.data === 'string')
      return `[image:${imageDigest(Buffer.from(source.data, 'base64'))}]`;
    if (source.type === 'url' && typeof source.url === 'string') return seen(source.url);
  }
  return undefined;
}

/** A solid-colour RGB PNG (no library: IHDR, one IDAT, IEND). */
export function solidPng(width: number, height: number, rgb: [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const row = Buffer.alloc(1 + width * 3);
  for (let x = 0; x < width; x++) row.set(rgb, 1 + x * 3);
  const pixels = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Largest side the fake draws (a test asking 4096×4096 gets a small picture quickly). */
const MAX_SIDE = 256;

/** The PNG the fake "generates" for a prompt and size: its colour is the prompt's hash. */
export function generatedPng(prompt: string, size: string): Buffer {
  const [width, height] = (/^(\d+)x(\d+)$/.exec(size)?.slice(1) ?? ['64', '64']).map((side) =>
    Math.max(1, Math.min(MAX_SIDE, Number(side))),
  ) as [number, number];
  const hash = createHash('sha256').update(prompt).digest();
  return solidPng(width, height, [hash[0]!, hash[1]!, hash[2]!]);
}

/**
 * Answers OpenAI's `POST /v1/images/generations`: `{created, data: [{b64_json}] × n, usage}`.
 * A prompt containing `[no-image]` gets `data: []` (a provider that returns no image);
 * `[not-an-image]` gets bytes that are not an image (a provider that answers garbage).
 */
export function imageGenerationResponse(body: unknown): FakeImageAnswer {
  if (!isRecord(body) || typeof body.prompt !== 'string' || body.prompt === '')
    return { status: 400, message: "Missing required parameter: 'prompt'." };
  const n = typeof body.n === 'number' ? Math.max(1, Math.min(4, Math.floor(body.n))) : 1;
  const size = typeof body.size === 'string' ? body.size : '64x64';
  const prompt = body.prompt;
  return imagesAnswer(
    prompt,
    n,
    (index) => generatedPng(index === 0 ? prompt : `${prompt}#${index}`, size),
    {
      revisedPrompt: prompt,
      inputTokens: Math.ceil(prompt.length / 4),
    },
  );
}

/**
 * An images answer, `{created, data: [{b64_json, revised_prompt}] × count, usage}` (1,000 output
 * tokens per image): `draw` makes each picture; a prompt with `[no-image]` gets `data: []`, one
 * with `[not-an-image]` bytes that are not an image.
 */
function imagesAnswer(
  prompt: string,
  count: number,
  draw: (index: number) => Buffer,
  options: { revisedPrompt: string; inputTokens: number },
): FakeImageAnswer {
  const data = prompt.includes('[no-image]')
    ? []
    : Array.from({ length: count }, (_, index) => ({
        b64_json: (prompt.includes('[not-an-image]')
          ? Buffer.from('<html>not an image</html>')
          : draw(index)
        ).toString('base64'),
        revised_prompt: options.revisedPrompt,
      }));
  return {
    status: 200,
    body: JSON.stringify({
      created: Math.floor(Date.now() / 1000),
      data,
      usage: {
        input_tokens: options.inputTokens,
        output_tokens: data.length * 1_000,
        total_tokens: options.inputTokens + data.length * 1_000,
      },
    }),
  };
}

/** An image answer of the fake: the body (JSON or image bytes) or a 400 with its message. */
export type FakeImageAnswer =
  | { status: 200; body: string | Buffer; contentType?: string }
  | { status: 400; message: string };

/** A multipart image request as the fake reads it: its text fields and its files. */
export interface ImageForm {
  fields: Record<string, string>;
  images: { field: string; name: string; type: string; bytes: Buffer }[];
}

/** Parses a `multipart/form-data` body (undici's parser); undefined when it is not one. */
export async function readImageForm(
  body: Buffer,
  contentType: string,
): Promise<ImageForm | undefined> {
  let form: FormData;
  try {
    form = await new Response(new Uint8Array(body), {
      headers: { 'content-type': contentType },
    }).formData();
  } catch {
    return undefined;
  }
  const parsed: ImageForm = { fields: {}, images: [] };
  for (const [field, value] of form) {
    if (typeof value === 'string') parsed.fields[field] = value;
    else
      parsed.images.push({
        field,
        name: value.name,
        type: value.type,
        bytes: Buffer.from(await value.arrayBuffer()),
      });
  }
  return parsed;
}

/** What a test sees of a multipart request: its fields, and its files by digest (not bytes). */
export const imageFormRecord = (form: ImageForm) => ({
  ...form.fields,
  images: form.images.map(({ bytes, ...image }) => ({
    ...image,
    bytes: bytes.length,
    digest: imageDigest(bytes),
  })),
});

/**
 * The PNG the fake "edits" images into: its colour is the hash of the input images' digests
 * and the prompt, so a test can tell which images the provider was sent.
 */
export function editedPng(prompt: string, images: readonly Buffer[], size: string): Buffer {
  return generatedPng(editSeenAs(prompt, images), size);
}

/** What an edit "sees": the input images' digests, then the prompt. */
const editSeenAs = (prompt: string, images: readonly Buffer[]) =>
  `${images.map((bytes) => `[image:${imageDigest(bytes)}]`).join(' ')} ${prompt}`;

/**
 * Answers OpenAI's `POST /v1/images/edits` (multipart: `model`, `prompt`, `size`, `n`, and
 * `image` or `image[]` files) like `images/generations`, the PNG derived from the images and
 * the prompt (`editedPng`); `revised_prompt` names the images seen (`[image:<digest>] …`).
 */
export function imageEditResponse(form: ImageForm | undefined): FakeImageAnswer {
  if (!form) return { status: 400, message: 'The body must be multipart/form-data.' };
  const prompt = form.fields.prompt ?? '';
  if (prompt === '') return { status: 400, message: "Missing required parameter: 'prompt'." };
  const images = form.images.filter(
    (image) => image.field === 'image' || image.field === 'image[]',
  );
  if (images.length === 0) return { status: 400, message: "Missing required parameter: 'image'." };
  const size = form.fields.size ?? '64x64';
  const bytes = images.map((image) => image.bytes);
  return imagesAnswer(prompt, 1, () => editedPng(prompt, bytes, size), {
    revisedPrompt: editSeenAs(prompt, bytes),
    inputTokens: Math.ceil(prompt.length / 4) + images.length * 258,
  });
}

/**
 * Answers the Hugging Face Inference API's text-to-image task, `POST
 * /hf-inference/models/<model>` with `{inputs, parameters?: {width, height}}`: the PNG's bytes
 * (`image/png`), the same picture `images/generations` draws for that prompt and size. A prompt
 * containing `[no-image]` gets a JSON body instead; `[not-an-image]` bytes that are not one.
 */
export function huggingFaceImageResponse(body: unknown): FakeImageAnswer {
  if (!isRecord(body) || typeof body.inputs !== 'string' || body.inputs === '')
    return { status: 400, message: 'Missing inputs' };
  const parameters = isRecord(body.parameters) ? body.parameters : {};
  const side = (value: unknown) => (typeof value === 'number' ? Math.floor(value) : 64);
  const size = `${side(parameters.width)}x${side(parameters.height)}`;
  if (body.inputs.includes('[no-image]'))
    return { status: 200, body: JSON.stringify({ error: 'No image was produced' }) };
  return {
    status: 200,
    body: body.inputs.includes('[not-an-image]')
      ? Buffer.from('<html>not an image</html>')
      : generatedPng(body.inputs, size),
    contentType: 'image/png',
  };
}
