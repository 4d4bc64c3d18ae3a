import { editedPng, type FakeImageAnswer } from './fake-llm-images.ts';
import { isRecord } from './fake-llm-protocol.ts';

/**
 * Whether a body sent to `/hf-inference/models/<model>` is the Inference API's image-to-image
 * task (`{inputs: <base64 image>, parameters: {prompt, target_size?}}`) rather than
 * text-to-image (`{inputs: <prompt>}`): its parameters carry the prompt.
 */
export const isHuggingFaceImageToImage = (body: unknown): boolean =>
  isRecord(body) && isRecord(body.parameters) && typeof body.parameters.prompt === 'string';

/**
 * Answers the Inference API's image-to-image task: the PNG's bytes (`image/png`), the same
 * picture `images/edits` draws for that image, prompt and size (`editedPng`), so a test can
 * tell the image it was sent. The size is `target_size` (64×64 without one).
 */
export function huggingFaceImageToImageResponse(body: unknown): FakeImageAnswer {
  if (!isRecord(body) || typeof body.inputs !== 'string' || body.inputs === '')
    return { status: 400, message: 'Missing inputs' };
  const parameters = isRecord(body.parameters) ? body.parameters : {};
  const prompt = typeof parameters.prompt === 'string' ? parameters.prompt : '';
  const image = Buffer.from(body.inputs, 'base64');
  if (image.length === 0) return { status: 400, message: 'inputs is not a base64 image' };
  const target = isRecord(parameters.target_size) ? parameters.target_size : {};
  const side = (value: unknown) => (typeof value === 'number' ? Math.floor(value) : 64);
  const size = `${side(target.width)}x${side(target.height)}`;
  if (prompt.includes('[no-image]'))
    return { status: 200, body: JSON.stringify({ error: 'No image was produced' }) };
  return { status: 200, body: editedPng(prompt, [image], size), contentType: 'image/png' };
}
