/**
 * Small export files in the shapes ChatGPT and Claude write (tests only). ChatGPT: a
 * `mapping` tree whose root node has no message, a hidden system message, an edited user
 * message (two user children of one assistant) and a tool exchange; Claude: `chat_messages`
 * with `parent_message_uuid` (a regenerated reply), and an old-style linear conversation.
 */
const seconds = (minute: number) => Date.parse('2026-11-02T10:00:00Z') / 1000 + minute * 60;

interface Node {
  id: string;
  parent: string | null;
  children: string[];
  message: Record<string, unknown> | null;
}

function chatgptMessage(
  id: string,
  role: string,
  text: string | null,
  minute: number,
  extra: Record<string, unknown> = {},
) {
  return {
    id,
    author: { role, name: null, metadata: {} },
    create_time: seconds(minute),
    update_time: null,
    content: { content_type: 'text', parts: text === null ? [] : [text] },
    status: 'finished_successfully',
    end_turn: role === 'assistant' ? true : null,
    weight: 1,
    metadata: role === 'assistant' ? { model_slug: 'gpt-4o', finish_details: {} } : {},
    recipient: 'all',
    ...extra,
  };
}

export function chatgptConversation(
  options: { id?: string; title?: string; extraTurn?: boolean } = {},
) {
  const id = options.id ?? '67a1c2d3-0000-8000-a000-000000000001';
  const nodes: Node[] = [
    { id: 'client-created-root', parent: null, children: ['sys'], message: null },
    {
      id: 'sys',
      parent: 'client-created-root',
      children: ['u1'],
      message: chatgptMessage('sys', 'system', '', 0, {
        metadata: { is_visually_hidden_from_conversation: true },
      }),
    },
    {
      id: 'u1',
      parent: 'sys',
      children: ['a1'],
      message: chatgptMessage('u1', 'user', 'Plan a day in Lisbon', 1),
    },
    {
      id: 'a1',
      parent: 'u1',
      children: ['u2', 'u2b'],
      message: chatgptMessage('a1', 'assistant', 'Start in Alfama, then Belém.', 2),
    },
    {
      id: 'u2',
      parent: 'a1',
      children: ['a2'],
      message: chatgptMessage('u2', 'user', 'And for dinner?', 3),
    },
    {
      id: 'a2',
      parent: 'u2',
      children: [],
      message: chatgptMessage('a2', 'assistant', 'Try a tasca in Bairro Alto.', 4),
    },
    {
      id: 'u2b',
      parent: 'a1',
      children: ['tool-call'],
      message: chatgptMessage('u2b', 'user', 'How hot is it in August?', 5),
    },
    {
      // The model asking a tool, and the tool's answer: not shown, not imported.
      id: 'tool-call',
      parent: 'u2b',
      children: ['tool-out'],
      message: {
        ...chatgptMessage('tool-call', 'assistant', null, 6),
        content: { content_type: 'code', language: 'unknown', text: 'search("Lisbon August")' },
        recipient: 'web',
      },
    },
    {
      id: 'tool-out',
      parent: 'tool-call',
      children: ['a2b'],
      message: chatgptMessage('tool-out', 'tool', 'Average high 28°C', 7),
    },
    {
      id: 'a2b',
      parent: 'tool-out',
      children: options.extraTurn ? ['u3'] : [],
      message: chatgptMessage('a2b', 'assistant', 'About 28°C in the afternoon.', 8),
    },
  ];
  if (options.extraTurn)
    nodes.push({
      id: 'u3',
      parent: 'a2b',
      children: [],
      message: chatgptMessage('u3', 'user', 'Thanks!', 9),
    });
  return {
    title: options.title ?? 'Lisbon day trip',
    create_time: seconds(1),
    update_time: seconds(9),
    mapping: Object.fromEntries(nodes.map((node) => [node.id, node])),
    moderation_results: [],
    current_node: options.extraTurn ? 'u3' : 'a2b',
    plugin_ids: null,
    conversation_id: id,
    conversation_template_id: null,
    is_archived: false,
    safe_urls: [],
    default_model_slug: 'gpt-4o',
    id,
  };
}

const claudeRoot = '00000000-0000-4000-8000-000000000000';
const iso = (minute: number) => new Date(seconds(minute) * 1000).toISOString();

function claudeMessage(
  uuid: string,
  sender: 'human' | 'assistant',
  text: string,
  minute: number,
  parent?: string,
) {
  return {
    uuid,
    text,
    content: [
      {
        start_timestamp: iso(minute),
        stop_timestamp: iso(minute),
        type: 'text',
        text,
        citations: [],
      },
    ],
    sender,
    created_at: iso(minute),
    updated_at: iso(minute),
    attachments: [],
    files: [],
    ...(parent === undefined ? {} : { parent_message_uuid: parent }),
  };
}

export function claudeConversations() {
  return [
    {
      uuid: '1f0e6a6e-1111-4c1e-9d2a-0000000000c1',
      name: 'Sourdough starter',
      created_at: iso(0),
      updated_at: iso(5),
      account: { uuid: '2a2b2c2d-0000-4000-8000-00000000000a' },
      chat_messages: [
        claudeMessage('c1-h1', 'human', 'How do I feed a sourdough starter?', 0, claudeRoot),
        claudeMessage('c1-a1', 'assistant', 'Equal weights of flour and water, daily.', 1, 'c1-h1'),
        // A regenerated reply: a second child of the same question.
        claudeMessage(
          'c1-a1b',
          'assistant',
          'Discard half, then add flour and water 1:1.',
          2,
          'c1-h1',
        ),
      ],
    },
    {
      // An older export: no parent ids, the messages are one chain in order.
      uuid: '1f0e6a6e-2222-4c1e-9d2a-0000000000c2',
      name: '',
      created_at: iso(10),
      updated_at: iso(12),
      account: { uuid: '2a2b2c2d-0000-4000-8000-00000000000a' },
      chat_messages: [
        { ...claudeMessage('c2-h1', 'human', 'Translate "bom dia"', 10) },
        { ...claudeMessage('c2-a1', 'assistant', '"Good morning".', 11) },
      ],
    },
  ];
}

/** multipart/form-data with one `file` part. */
export function multipartFile(name: string, bytes: string | Buffer) {
  const boundary = '----braincells-chat-import';
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${name}"\r\ncontent-type: application/json\r\n\r\n`,
    ),
    Buffer.from(bytes),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}
