import { describe, expect, it } from 'vitest';
import { storedReference } from '../column-refs.ts';
import { cellMessages, cellPrompt, diversitySeed, renderCellTemplate } from './cell-prompt.ts';

const city = '0190a000-0000-7000-8000-000000000001';
const settings = {
  columnName: 'Summary',
  output: { type: 'text' as const },
  instructions: 'One sentence.',
  template: `Describe ${storedReference(city)}.`,
};

describe('the cell prompt builder', () => {
  it('renders the row into the user message after the column rules', () => {
    const rendered = renderCellTemplate(settings, { [city]: 'Oslo' });
    expect(rendered).toBe('Describe Oslo.');
    const messages = cellMessages(settings, rendered);
    expect(messages.at(-1)).toEqual({ role: 'user', content: 'Describe Oslo.' });
    expect(messages[0]!.role).toBe('system');
    expect(messages[0]!.content).toContain('"Summary"');
    expect(messages[0]!.content).toContain('One sentence.');
    expect(messages).toHaveLength(2);
  });

  it('puts few-shot pairs between the rules and the row, and sources before the row', () => {
    const messages = cellMessages(settings, 'Describe Oslo.', {
      examples: [{ rowId: '7', input: 'Describe Rome.', output: 'Old.' }],
      sources: [{ title: 'Oslo', url: 'https://example.test/oslo', snippet: 'Capital.' }],
    });
    expect(messages.map((message) => message.role)).toEqual([
      'system',
      'user',
      'assistant',
      'user',
    ]);
    expect(messages[3]!.content).toMatch(
      /^Web search results:[\s\S]*Capital\.[\s\S]*Describe Oslo\.$/,
    );
  });

  it('gives each row of a prompt that reads no column its own stable seed', () => {
    const process = '0190a000-0000-7000-8000-0000000000aa';
    expect(diversitySeed(process, '1')).toBe(diversitySeed(process, '1'));
    expect(diversitySeed(process, '1')).not.toBe(diversitySeed(process, '2'));
    expect(diversitySeed(process, '1')).toMatch(/^[0-9a-f]{8}$/);
    const prompt = cellPrompt(settings, 'Name a city.', {
      diversity: { seed: diversitySeed(process, '1') },
    });
    expect(prompt.diversity).toEqual({ seed: diversitySeed(process, '1'), avoid: [] });
    const [, user] = cellMessages(settings, 'Name a city.', {
      diversity: { seed: 'abcd1234', avoid: ['Oslo'] },
    });
    expect(user!.content).toContain('(Item abcd1234:');
    expect(user!.content).toContain('"Oslo"');
  });
});
