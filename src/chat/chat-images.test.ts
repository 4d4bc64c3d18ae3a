import { createHash, randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { testBackends } from '../../test/test-platform.ts';
import { imageDigest } from '../../tools/fake-llm/fake-llm-images.ts';
import { loadConfig } from '../platform/config.ts';
import { expectImageAnswer } from '../platform/http/image-headers-test-helpers.ts';
import { multipartFiles } from '../platform/http/multipart-test-helpers.ts';
import { pngBomb, SCRIPTED_SVG, solidImage } from '../sheets/images/image-test-fixtures.ts';
import { chatgptConversation, claudeConversations } from './chat-import-fixtures.ts';
import type { MessageView, ThreadView } from './chat-presenter.ts';
import { chatDb } from './chat-tables.ts';
import {
  CHAT_FAKE_KEY,
  type ChatTestEnv,
  chatEnvPerSuite,
  openChatTestEnv,
} from './chat-test-env.ts';

// Images in chat messages (issue 16): upload → send → the model gets the bytes as an image part
// (OpenAI and Anthropic through the fake server), served back to members only, kept by edits,
// forks and exports, refused whole when anything is wrong.
const MAX_BYTES = 64 * 1024;
let env: ChatTestEnv;
let anthropic: string;
let other: ProjectWithMembers;
beforeAll(async () => {
  env = await openChatTestEnv({
    config: {
      images: { ...loadConfig({}, {}).images, maxBytes: MAX_BYTES, maxPixels: 4_000_000 },
    },
  });
  anthropic = (
    await env.t.app.llm.admin.createProvider(env.members.owner.actor, env.projectId, {
      name: 'fake anthropic',
      kind: 'anthropic',
      baseUrl: `${env.fake.url}/v1`,
      apiKey: CHAT_FAKE_KEY,
      maxConcurrency: 16,
    })
  ).id;
  other = await createProjectWithMembers(env.t);
});
afterAll(async () => {
  await env?.close();
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const threadsUrl = (projectId = env.projectId) => `/api/projects/${projectId}/chat/threads`;
const editor = () => env.members.editor.headers;

async function newThread(model = 'gpt-4o-mini', provider = env.providerId): Promise<ThreadView> {
  const response = await env.t.app.inject({
    method: 'POST',
    url: threadsUrl(),
    headers: editor(),
    payload: { title: 'Photos', model, provider },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

function upload(
  threadId: string,
  file: { name: string; bytes: Buffer | string },
  options: { headers?: Record<string, string>; projectId?: string } = {},
) {
  const { body, contentType } = multipartFiles([file]);
  return env.t.app.inject({
    method: 'POST',
    url: `${threadsUrl(options.projectId)}/${threadId}/attachments`,
    headers: { ...(options.headers ?? editor()), 'content-type': contentType },
    payload: body,
  });
}

const send = (threadId: string, payload: object) =>
  env.t.app.inject({
    method: 'POST',
    url: `${threadsUrl()}/${threadId}/messages`,
    headers: editor(),
    payload,
  });

async function settledBranch(threadId: string): Promise<MessageView[]> {
  return eventually(
    async () =>
      (
        await env.t.app.inject({
          method: 'GET',
          url: `${threadsUrl()}/${threadId}/messages`,
          headers: editor(),
        })
      ).json().items as MessageView[],
    (items) => items.length > 0 && items.every((item) => item.status !== 'streaming'),
    { what: 'the reply settled' },
  );
}

const messageCount = async () =>
  Number(
    (
      await chatDb(env.t.platform.database.db)
        .selectFrom('chat_message')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );
const linkCount = async () =>
  Number(
    (
      await env.t.platform.database.db
        .selectFrom('image_blob')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

/** A PNG of noise (does not compress): `side`² pixels, about 3·side² bytes. */
const noisePng = (side: number) =>
  sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } })
    .png()
    .toBuffer();

describe('uploading an image to a thread', () => {
  it('stores a PNG and answers its reference; the original and thumbnail come back to members', async () => {
    const thread = await newThread();
    const png = await solidImage('png', { width: 120, height: 80 });
    const response = await upload(thread.id, { name: 'chart.png', bytes: png });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json()).toEqual({
      sha256: sha256(png),
      mediaType: 'image/png',
      bytes: png.length,
      width: 120,
      height: 80,
      name: 'chart.png',
    });

    const url = `${threadsUrl()}/${thread.id}/attachments/${sha256(png)}`;
    const original = await env.t.app.inject({
      method: 'GET',
      url,
      headers: env.members.viewer.headers,
    });
    expectImageAnswer(original, png, 'image/png');
    const again = await env.t.app.inject({
      method: 'GET',
      url,
      headers: { ...env.members.viewer.headers, 'if-none-match': `"${sha256(png)}"` },
    });
    expect(again.statusCode).toBe(304);
    const thumbnail = await env.t.app.inject({
      method: 'GET',
      url: `${url}/thumbnail`,
      headers: env.members.viewer.headers,
    });
    expect(thumbnail.statusCode).toBe(200);
    expect(thumbnail.headers['content-type']).toBe('image/webp');
    expect((await sharp(thumbnail.rawPayload).metadata()).format).toBe('webp');
  });

  it('refuses each bad input naming `file` and writes nothing', async () => {
    const thread = await newThread();
    const before = await linkCount();
    const cases: { bytes: Buffer | string; status: number; code: string }[] = [
      { bytes: 'just some text', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
      // Attack: script in an SVG — never stored, so never served.
      { bytes: SCRIPTED_SVG, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
      // Attack: a header declaring 100,000² pixels over a few bytes of data.
      { bytes: await pngBomb(), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
      // A PNG cut short: the header is fine, the pixels do not decode.
      {
        bytes: (await noisePng(60)).subarray(0, 2_000),
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
      },
      // A JPEG signature over PNG data: the bytes do not match their signature.
      {
        bytes: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), await solidImage('png')]),
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
      },
      { bytes: await noisePng(200), status: 413, code: 'PAYLOAD_TOO_LARGE' },
    ];
    for (const { bytes, status, code } of cases) {
      const response = await upload(thread.id, { name: 'x.png', bytes });
      expect(response.statusCode, response.body).toBe(status);
      expect(response.json().error.code).toBe(code);
      expect(response.json().error.details.field).toBe('file');
    }
    const json = await env.t.app.inject({
      method: 'POST',
      url: `${threadsUrl()}/${thread.id}/attachments`,
      headers: editor(),
      payload: { file: 'nope' },
    });
    expect(json.statusCode).toBe(415);
    expect(json.json().error.details.field).toBe('file');
    expect(await linkCount()).toBe(before);
  });

  it("answers 404 for another project's thread and to outsiders, 403 to viewers", async () => {
    const thread = await newThread();
    const png = await solidImage('png', { colour: { r: 1, g: 2, b: 3 } });
    // Another project's editor, naming this thread under their own project.
    const cross = await upload(
      thread.id,
      { name: 'a.png', bytes: png },
      { headers: other.editor.headers, projectId: other.project.id },
    );
    expect(cross.statusCode).toBe(404);
    const outsider = await upload(
      thread.id,
      { name: 'a.png', bytes: png },
      { headers: other.editor.headers },
    );
    expect(outsider.statusCode).toBe(404);
    const viewer = await upload(
      thread.id,
      { name: 'a.png', bytes: png },
      { headers: env.members.viewer.headers },
    );
    expect(viewer.statusCode).toBe(403);

    const stored = await upload(thread.id, { name: 'a.png', bytes: png });
    expect(stored.statusCode).toBe(201);
    const read = (projectId: string, headers: Record<string, string>) =>
      env.t.app.inject({
        method: 'GET',
        url: `${threadsUrl(projectId)}/${thread.id}/attachments/${sha256(png)}`,
        headers,
      });
    expect((await read(other.project.id, other.owner.headers)).statusCode).toBe(404);
    expect((await read(env.projectId, other.owner.headers)).statusCode).toBe(404);
    // The same bytes known to the hash, asked for by a project that never stored them.
    const otherThread = await env.t.app.inject({
      method: 'POST',
      url: threadsUrl(other.project.id),
      headers: other.editor.headers,
      payload: { title: 'x', model: 'gpt-4o-mini' },
    });
    expect((await read(other.project.id, other.owner.headers)).statusCode, otherThread.body).toBe(
      404,
    );
    const forged = await env.t.app.inject({
      method: 'GET',
      url: `${threadsUrl(other.project.id)}/${otherThread.json().id}/attachments/${sha256(png)}`,
      headers: other.owner.headers,
    });
    expect(forged.statusCode).toBe(404);
  });
});

describe('sending a message with images', () => {
  it.each([
    ['OpenAI', 'gpt-4o-mini', () => env.providerId],
    ['Anthropic', 'claude-sonnet-4-5', () => anthropic],
  ])('sends the image to the model as an image part (%s)', async (_protocol, model, provider) => {
    const thread = await newThread(model, provider());
    const png = await solidImage('png', { colour: { r: 10, g: 200, b: 30 } });
    const uploaded = (await upload(thread.id, { name: 'leaf.png', bytes: png })).json();
    env.fake.reset();
    const sent = await send(thread.id, {
      content: 'What colour is this?',
      attachments: [{ sha256: uploaded.sha256, name: 'leaf.png', alt: 'a green square' }],
    });
    expect(sent.statusCode, sent.body).toBe(202);
    expect(sent.json().userMessage.parts).toEqual([
      {
        type: 'image',
        sha256: sha256(png),
        mediaType: 'image/png',
        bytes: png.length,
        width: 64,
        height: 48,
        name: 'leaf.png',
        alt: 'a green square',
      },
    ]);
    const [user, reply] = await settledBranch(thread.id);
    expect(user!.parts).toHaveLength(1);
    expect(reply!.status).toBe('done');
    // The fake reads an image part as `[image:<digest of its bytes>]`.
    expect(reply!.content).toContain(`[image:${imageDigest(png)}]`);
    const bodies = env.fake.requests.map((request) => JSON.stringify(request.body));
    expect(bodies.some((body) => body.includes(png.toString('base64')))).toBe(true);
    expect(bodies.every((body) => !body.includes('braincells-image:'))).toBe(true);
  });

  it('sends an image with no text', async () => {
    const thread = await newThread();
    const png = await solidImage('png', { colour: { r: 90, g: 90, b: 90 } });
    const uploaded = (await upload(thread.id, { name: 'grey.png', bytes: png })).json();
    const sent = await send(thread.id, { attachments: [{ sha256: uploaded.sha256 }] });
    expect(sent.statusCode, sent.body).toBe(202);
    const [, reply] = await settledBranch(thread.id);
    expect(reply!.content).toContain(`[image:${imageDigest(png)}]`);
  });

  it('refuses bad attachments and text models before writing anything', async () => {
    const thread = await newThread();
    const png = await solidImage('png', { colour: { r: 7, g: 7, b: 7 } });
    const uploaded = (await upload(thread.id, { name: 'p.png', bytes: png })).json();
    // An image only another project holds: its hash proves nothing here.
    const theirs = await solidImage('png', { colour: { r: 250, g: 1, b: 1 } });
    await env.t.app.features.images.images.storeImage(other.project.id, {
      name: 't.png',
      bytes: theirs,
    });
    const before = await messageCount();
    const refusals: [object, number, string][] = [
      [{ content: 'x', attachments: [{ sha256: 'a'.repeat(64) }] }, 400, 'attachments.0.sha256'],
      [
        { content: 'x', attachments: [{ sha256: uploaded.sha256 }, { sha256: sha256(theirs) }] },
        400,
        'attachments.1.sha256',
      ],
      [{ content: 'x', attachments: [{ sha256: 'not-a-hash' }] }, 400, 'attachments.0.sha256'],
      [
        { content: 'x', attachments: Array(9).fill({ sha256: uploaded.sha256 }) },
        400,
        'attachments',
      ],
      [{ content: '  ', attachments: [] }, 400, 'content'],
      [
        { content: 'x', attachments: [{ sha256: uploaded.sha256, extra: 1 }] },
        400,
        'attachments.0',
      ],
      // A model not known to take images.
      [
        { content: 'x', attachments: [{ sha256: uploaded.sha256 }], model: 'gpt-3.5-turbo' },
        400,
        'model',
      ],
    ];
    for (const [payload, status, field] of refusals) {
      const response = await send(thread.id, payload);
      expect(response.statusCode, response.body).toBe(status);
      expect(JSON.stringify(response.json().error.details), JSON.stringify(payload)).toContain(
        field,
      );
    }
    expect(await messageCount()).toBe(before);
  });

  it('keeps the images through an edit, a regenerate and a fork, and exports them as references', async () => {
    const thread = await newThread();
    const png = await solidImage('jpeg', { colour: { r: 30, g: 30, b: 220 } });
    const uploaded = (await upload(thread.id, { name: 'sea.jpg', bytes: png })).json();
    await send(thread.id, {
      content: 'Where?',
      attachments: [{ sha256: uploaded.sha256, name: 'sea.jpg' }],
    });
    const [user, reply] = await settledBranch(thread.id);
    expect(user!.parts[0]).toMatchObject({ type: 'image', mediaType: 'image/jpeg' });

    env.fake.reset();
    const regenerated = await env.t.app.inject({
      method: 'POST',
      url: `${threadsUrl()}/${thread.id}/messages/${reply!.id}/regenerate`,
      headers: editor(),
      payload: {},
    });
    expect(regenerated.statusCode, regenerated.body).toBe(202);
    const [, second] = await settledBranch(thread.id);
    expect(second!.content).toContain(`[image:${imageDigest(png)}]`);
    const textOnly = await env.t.app.inject({
      method: 'POST',
      url: `${threadsUrl()}/${thread.id}/messages/${second!.id}/regenerate`,
      headers: editor(),
      payload: { model: 'gpt-3.5-turbo' },
    });
    expect(textOnly.statusCode).toBe(400);
    expect(JSON.stringify(textOnly.json().error.details)).toContain('model');

    const edited = await env.t.app.inject({
      method: 'PATCH',
      url: `${threadsUrl()}/${thread.id}/messages/${user!.id}`,
      headers: editor(),
      payload: { content: 'Which sea is this?', version: user!.version },
    });
    expect(edited.statusCode, edited.body).toBe(202);
    const [editedUser, editedReply] = await settledBranch(thread.id);
    expect(editedUser!.id).not.toBe(user!.id);
    expect(editedUser!.parts).toEqual(user!.parts);
    expect(editedReply!.content).toContain(`[image:${imageDigest(png)}]`);

    const fork = await env.t.app.inject({
      method: 'POST',
      url: `${threadsUrl()}/${thread.id}/fork`,
      headers: editor(),
      payload: { messageId: editedReply!.id },
    });
    expect(fork.statusCode, fork.body).toBe(201);
    const forked = await env.t.app.inject({
      method: 'GET',
      url: `${threadsUrl()}/${fork.json().id}/messages`,
      headers: editor(),
    });
    expect(forked.json().items[0].parts).toEqual(user!.parts);

    const json = await env.t.app.inject({
      method: 'GET',
      url: `${threadsUrl()}/${thread.id}/export?format=json`,
      headers: editor(),
    });
    const exported = JSON.parse(json.body) as { messages: MessageView[] };
    expect(exported.messages.filter((message) => message.parts.length > 0)).toHaveLength(2);
    expect(exported.messages[0]!.parts[0]).toMatchObject({ type: 'image', sha256: sha256(png) });
    const markdown = await env.t.app.inject({
      method: 'GET',
      url: `${threadsUrl()}/${thread.id}/export?format=md`,
      headers: editor(),
    });
    expect(markdown.body).toContain(`> Image \`sea.jpg\`: image/jpeg, 64×48`);
    expect(markdown.body).toContain(sha256(png));
  });

  it("keeps a thread's images through the blob sweep", async () => {
    const thread = await newThread();
    const png = await solidImage('webp', { colour: { r: 5, g: 150, b: 150 } });
    const uploaded = (await upload(thread.id, { name: 'k.webp', bytes: png })).json();
    await send(thread.id, { content: 'Keep me', attachments: [{ sha256: uploaded.sha256 }] });
    await settledBranch(thread.id);
    // An upload never sent is swept with the rest once its grace period is over.
    const stray = await solidImage('png', { colour: { r: 6, g: 6, b: 6 } });
    await upload(thread.id, { name: 'stray.png', bytes: stray });
    await env.t.app.features.images.sweep.sweep(Date.now() + 30 * 24 * 3_600_000);
    const held = await env.t.app.features.images.images.heldImages(env.projectId, [
      sha256(png),
      sha256(stray),
    ]);
    expect([...held.keys()]).toEqual([sha256(png)]);
  });
});

describe('importing exports with attachments', () => {
  it('keeps a placeholder line for each image or file the export only points to', async () => {
    const chatgpt = chatgptConversation({ id: '67a1c2d3-0000-8000-a000-0000000000f1' });
    const user = (chatgpt.mapping as Record<string, { message: { content: unknown } | null }>).u1!;
    user.message!.content = {
      content_type: 'multimodal_text',
      parts: [
        { content_type: 'image_asset_pointer', asset_pointer: 'file-service://file-Lisbon' },
        'Plan a day here',
      ],
    };
    const [claude] = claudeConversations();
    claude!.uuid = '1f0e6a6e-9999-4c1e-9d2a-0000000000f2';
    (claude!.chat_messages[0] as { files: unknown[] }).files = [{ file_name: 'starter.jpg' }];
    for (const file of [[chatgpt], [claude]]) {
      const response = await env.t.app.inject({
        method: 'POST',
        url: `/api/projects/${env.projectId}/chat/imports`,
        headers: editor(),
        payload: file,
      });
      expect(response.statusCode, response.body).toBe(200);
    }
    const texts = (
      await chatDb(env.t.platform.database.db)
        .selectFrom('chat_message')
        .select('content')
        .where('content', 'like', '%[attachment not imported%')
        .execute()
    ).map((row) => row.content);
    expect(texts).toEqual(
      expect.arrayContaining([
        '[attachment not imported: file-service://file-Lisbon]\nPlan a day here',
        'How do I feed a sourdough starter?\n[attachment not imported: starter.jpg]',
      ]),
    );
  });
});

describe.each(testBackends())('image parts on %s', (backend) => {
  const own = chatEnvPerSuite({ backend });

  it('a send with an image writes its part', async () => {
    const created = await own.t.app.inject({
      method: 'POST',
      url: threadsUrl(own.projectId),
      headers: own.members.editor.headers,
      payload: { title: 'x', model: 'gpt-4o-mini', provider: own.providerId },
    });
    const png = await solidImage('png', { colour: { r: 3, g: 99, b: 3 } });
    const { body, contentType } = multipartFiles([{ name: 'g.png', bytes: png }]);
    const uploaded = await own.t.app.inject({
      method: 'POST',
      url: `${threadsUrl(own.projectId)}/${created.json().id}/attachments`,
      headers: { ...own.members.editor.headers, 'content-type': contentType },
      payload: body,
    });
    expect(uploaded.statusCode, uploaded.body).toBe(201);
    const sent = await own.t.app.inject({
      method: 'POST',
      url: `${threadsUrl(own.projectId)}/${created.json().id}/messages`,
      headers: own.members.editor.headers,
      payload: { content: 'Green?', attachments: [{ sha256: sha256(png) }] },
    });
    expect(sent.statusCode, sent.body).toBe(202);
    expect(sent.json().userMessage.parts[0]).toMatchObject({ type: 'image', sha256: sha256(png) });
  });

  it.each([
    [{ type: 'image', sha256: 'nope', mediaType: 'image/png', bytes: 1, width: 1, height: 1 }],
    [
      {
        type: 'image',
        sha256: 'a'.repeat(64),
        mediaType: 'image/svg+xml',
        bytes: 1,
        width: 1,
        height: 1,
      },
    ],
    [
      {
        type: 'image',
        sha256: 'a'.repeat(64),
        mediaType: 'image/png',
        bytes: 1,
        width: 0,
        height: 1,
      },
    ],
    [{ type: 'image', sha256: 'a'.repeat(64), mediaType: 'image/png', width: 1, height: 1 }],
    [
      {
        type: 'image',
        sha256: 'a'.repeat(64),
        mediaType: 'image/png',
        bytes: '1',
        width: 1,
        height: 1,
      },
    ],
  ])('refuses a malformed image part %#', async (part) => {
    const thread = await own.t.app.inject({
      method: 'POST',
      url: threadsUrl(own.projectId),
      headers: own.members.editor.headers,
      payload: { title: 'x', model: 'gpt-4o-mini' },
    });
    await expect(
      chatDb(own.t.platform.database.db)
        .insertInto('chat_message')
        .values({
          id: crypto.randomUUID(),
          thread_id: thread.json().id,
          parent_id: null,
          depth: 0,
          role: 'user',
          content: 'x',
          parts: JSON.stringify([part]),
          status: 'done',
          edited_from_id: null,
          provider: null,
          model: null,
          run_id: null,
          llm_call_id: null,
          uncached_input_tokens: null,
          cache_read_tokens: null,
          cache_write_tokens: null,
          output_tokens: null,
          reasoning_tokens: null,
          cost_nano: null,
          latency_ms: null,
          ttft_ms: null,
          created_by: null,
        } as never)
        .execute(),
    ).rejects.toThrow(/chat_message_image_parts_check/);
  });
});
