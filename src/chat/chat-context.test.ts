import { describe, expect, it } from 'vitest';
import { contextMessages, latestSummaryOn, transcriptOf } from './chat-context.ts';
import type { MessageRow, SummaryRow } from './chat-store.ts';

const message = (
  id: string,
  role: 'user' | 'assistant',
  content: string,
  reasoning: string | null = null,
) => ({ id, role, content, reasoning, status: 'done' }) as MessageRow;
const summary = (through: string, status: SummaryRow['status'], content = 'S') =>
  ({ through_message_id: through, status, content, covered_messages: 2 }) as SummaryRow;

const branch = [
  message('1', 'user', 'Hi'),
  message('2', 'assistant', 'Hello', 'thinking about greetings'),
  message('3', 'user', 'Plan a trip'),
  message('4', 'assistant', ''),
  message('5', 'user', 'To Porto'),
];

describe('the context a reply sends', () => {
  it('is the instructions, then the branch; reasoning and empty replies left out', () => {
    expect(contextMessages('Be brief.', branch)).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
      { role: 'user', content: 'Plan a trip' },
      { role: 'user', content: 'To Porto' },
    ]);
    expect(JSON.stringify(contextMessages('', branch))).not.toContain('thinking');
    expect(contextMessages('  ', branch)[0]).toEqual({ role: 'user', content: 'Hi' });
  });

  it('after a finished summary: instructions kept, the summary, then only what follows it', () => {
    const summaries = [summary('2', 'done', 'They greeted.'), summary('3', 'pending')];
    expect(contextMessages('Be brief.', branch, summaries)).toEqual([
      { role: 'system', content: 'Be brief.' },
      {
        role: 'system',
        content: 'Summary of the earlier conversation (2 messages):\nThey greeted.',
      },
      { role: 'user', content: 'Plan a trip' },
      { role: 'user', content: 'To Porto' },
    ]);
  });

  it('uses the latest summary on the branch and ignores ones on other branches', () => {
    const summaries = [
      summary('2', 'done', 'old'),
      summary('3', 'done', 'new'),
      summary('x', 'done'),
    ];
    expect(latestSummaryOn(branch, summaries)).toMatchObject({
      index: 2,
      summary: { content: 'new' },
    });
    expect(latestSummaryOn(branch, [summary('x', 'done')])).toBeUndefined();
    expect(latestSummaryOn(branch, [summary('3', 'error')])).toBeUndefined();
  });

  it('a transcript names the speakers and skips empty messages', () => {
    expect(transcriptOf(branch.slice(0, 4))).toBe(
      'User: Hi\n\nAssistant: Hello\n\nUser: Plan a trip',
    );
  });
});

describe('a user message with images in the context', () => {
  const photo = {
    type: 'image',
    sha256: 'c'.repeat(64),
    mediaType: 'image/png',
    bytes: 10,
    width: 4,
    height: 3,
    name: 'cat.png',
    alt: 'a cat',
  };
  const withImage = [{ ...message('1', 'user', 'Who is this?'), parts: [photo] } as MessageRow];

  it('sends the text, then each image by hash (bytes put in before the call) and its description', () => {
    expect(contextMessages('', withImage)).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Who is this?' },
          { type: 'image', url: `braincells-image:${'c'.repeat(64)}`, mediaType: 'image/png' },
          { type: 'text', text: '(Image description: a cat)' },
        ],
      },
    ]);
  });

  it('names the image in text for a model that does not take images', () => {
    expect(contextMessages('', withImage, [], { images: false })).toEqual([
      { role: 'user', content: 'Who is this?\n[image cat.png: a cat (not shown to this model)]' },
    ]);
  });
});
