import { describe, expect, it } from 'vitest';
import { multilineText, nameText, visibleText } from './text-schema.ts';

/** The first issue's message, or the parsed value. */
const outcome = (schema: { safeParse: (value: unknown) => unknown }, value: string) => {
  const result = schema.safeParse(value) as
    | { success: true; data: string }
    | { success: false; error: { issues: { message: string }[] } };
  return result.success ? { value: result.data } : { error: result.error.issues[0]?.message };
};

describe('text schemas', () => {
  it.each([
    ['  Team data  ', { value: 'Team data' }],
    ['   ', { error: 'must not be empty' }],
    ['a\u0007b', { error: 'must not contain control characters' }],
    ['two\nlines', { error: 'must not contain control characters' }],
    ['x'.repeat(201), { error: expect.stringContaining('200') }],
    ['x'.repeat(200), { value: 'x'.repeat(200) }],
  ])('nameText(%j)', (input, expected) => {
    expect(outcome(nameText(), input)).toEqual(expected);
  });

  it('visibleText may be empty; multilineText keeps line breaks and tabs, not other controls', () => {
    expect(outcome(visibleText(10), '  ')).toEqual({ value: '' });
    expect(outcome(visibleText(10), 'a\tb')).toEqual({
      error: 'must not contain control characters',
    });
    expect(outcome(multilineText(20), ' one\n\ttwo\r\n')).toEqual({ value: ' one\n\ttwo\r\n' });
    expect(outcome(multilineText(20), 'bell\u0007')).toEqual({
      error: 'must not contain control characters',
    });
  });
});
