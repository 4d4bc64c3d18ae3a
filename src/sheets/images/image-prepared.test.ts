import { describe, expect, it } from 'vitest';
import type { LlmMessage } from '../../llm/llm-provider.ts';
import type { ImageReference } from './image-reference.ts';
import { createPreparedImages, IMAGE_URL_PREFIX, type ImageSource } from './image-vision.ts';

const hash = (index: number) => index.toString(16).padStart(64, '0');
const reference = (index: number): ImageReference => ({
  sha256: hash(index),
  mediaType: 'image/png',
  bytes: 4,
  width: 1,
  height: 1,
  name: `${index}.png`,
});

/** A source holding images 0..held-1 for project `p`, recording every lookup and read. */
function recordingSource(held: number, bytes = 4) {
  const lookups: { projectId: string; hashes: string[] }[] = [];
  const reads: string[] = [];
  const source: ImageSource = {
    readForModel: async (projectId, hashes) => {
      lookups.push({ projectId, hashes: [...hashes] });
      return new Map(
        hashes
          .filter((sha256) => projectId === 'p' && Number.parseInt(sha256, 16) < held)
          .map((sha256) => [
            sha256,
            {
              mediaType: 'image/png',
              read: async () => {
                reads.push(sha256);
                return {
                  bytes: Buffer.alloc(bytes, Number.parseInt(sha256, 16)),
                  mediaType: 'image/png',
                };
              },
            },
          ]),
      );
    },
  };
  return { source, lookups, reads };
}

const request = (projectId: string, ...indexes: number[]) => ({
  projectId,
  messages: [
    {
      role: 'user',
      content: [
        ...indexes.map((index) => ({
          type: 'image' as const,
          url: `${IMAGE_URL_PREFIX}${hash(index)}`,
          mediaType: 'image/png',
        })),
        { type: 'text' as const, text: 'Describe' },
      ],
    },
  ] as LlmMessage[],
});

const urls = (resolved: { messages: LlmMessage[] }) =>
  resolved.messages.flatMap((message) =>
    typeof message.content === 'string'
      ? []
      : message.content.flatMap((part) => (part.type === 'image' ? [part.url] : [])),
  );

describe('prepared images', () => {
  it('prepares a batch with one lookup; the calls then find their data URLs ready', async () => {
    const { source, lookups, reads } = recordingSource(100);
    const prepared = createPreparedImages(source);
    prepared.prepare(
      'p',
      Array.from({ length: 50 }, (_, index) => reference(index)),
    );
    await expect.poll(() => prepared.counters.prepared).toBe(50);
    expect(lookups).toHaveLength(1);
    expect(lookups[0]!.hashes).toHaveLength(50);
    const resolved = await prepared.resolve(request('p', 7));
    expect(urls(resolved)).toEqual([
      `data:image/png;base64,${Buffer.alloc(4, 7).toString('base64')}`,
    ]);
    expect(prepared.counters).toMatchObject({ lookups: 1, ready: 1, waited: 0 });
    expect(reads).toHaveLength(50);
  });

  it('prepares on demand what was not prepared ahead', async () => {
    const { source, lookups } = recordingSource(10);
    const prepared = createPreparedImages(source);
    const [first, second] = await Promise.all([
      prepared.resolve(request('p', 1)),
      prepared.resolve(request('p', 2)),
    ]);
    expect(urls(first)).toEqual([`data:image/png;base64,${Buffer.alloc(4, 1).toString('base64')}`]);
    expect(urls(second)).toEqual([
      `data:image/png;base64,${Buffer.alloc(4, 2).toString('base64')}`,
    ]);
    // Two calls at once: one lookup.
    expect(lookups).toHaveLength(1);
    expect(prepared.counters).toMatchObject({ ready: 0, waited: 2 });
  });

  it("refuses an image the project does not hold, and never serves one project another's bytes", async () => {
    const { source, lookups } = recordingSource(10);
    const prepared = createPreparedImages(source);
    await prepared.resolve(request('p', 3));
    await expect(prepared.resolve(request('q', 3))).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/not in this project/),
    });
    await expect(prepared.resolve(request('p', 42))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // Not remembered: asked again, looked up again.
    await expect(prepared.resolve(request('p', 42))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(lookups.map((lookup) => lookup.projectId)).toEqual(['p', 'q', 'p', 'p']);
  });

  it('keeps at most its byte budget, dropping the least recently used first', async () => {
    const { source, reads } = recordingSource(10, 30);
    // A 30-byte image is a 40-character base64 payload plus the `data:image/png;base64,` head.
    const prepared = createPreparedImages(source, { budgetBytes: 200 });
    for (const index of [0, 1, 2]) await prepared.resolve(request('p', index));
    await prepared.resolve(request('p', 0));
    await prepared.resolve(request('p', 3));
    expect(reads).toEqual([hash(0), hash(1), hash(2), hash(3)]);
    // 1 was the least recently used: read again; 0 was used since, still kept.
    await prepared.resolve(request('p', 0));
    await prepared.resolve(request('p', 1));
    expect(reads).toEqual([hash(0), hash(1), hash(2), hash(3), hash(1)]);
  });

  it('a failed read fails the call, and the next call reads again', async () => {
    let fail = true;
    const prepared = createPreparedImages({
      readForModel: async (_projectId, hashes) =>
        new Map(
          hashes.map((sha256) => [
            sha256,
            {
              mediaType: 'image/png',
              read: async () => {
                if (fail) throw new Error('EIO');
                return { bytes: Buffer.from('ok'), mediaType: 'image/png' };
              },
            },
          ]),
        ),
    });
    await expect(prepared.resolve(request('p', 1))).rejects.toThrow('EIO');
    fail = false;
    expect(urls(await prepared.resolve(request('p', 1)))).toHaveLength(1);
  });

  it('leaves a request without internal image URLs as it is', async () => {
    const { source, lookups } = recordingSource(1);
    const prepared = createPreparedImages(source);
    const plain = { projectId: 'p', messages: [{ role: 'user', content: 'hi' }] as LlmMessage[] };
    expect(await prepared.resolve(plain)).toBe(plain);
    expect(lookups).toHaveLength(0);
  });
});
