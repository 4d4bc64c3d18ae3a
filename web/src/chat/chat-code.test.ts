import { describe, expect, it } from 'vitest';
import { highlightCode, splitFences } from './chat-code.ts';

describe('splitFences', () => {
  it.each([
    ['no fence', 'Just *text*.', [{ kind: 'markdown', text: 'Just *text*.' }]],
    [
      'prose, code, prose',
      'Before\n```py\nprint(1)\n```\nAfter',
      [
        { kind: 'markdown', text: 'Before' },
        { kind: 'code', language: 'py', code: 'print(1)' },
        { kind: 'markdown', text: 'After' },
      ],
    ],
    [
      'a tilde fence holding backticks, closed by a longer fence',
      '~~~\n```not a fence```\n~~~~',
      [{ kind: 'code', language: '', code: '```not a fence```' }],
    ],
    [
      'a fence still open (a reply streaming) runs to the end',
      'Here:\n```sql\nselect 1',
      [
        { kind: 'markdown', text: 'Here:' },
        { kind: 'code', language: 'sql', code: 'select 1' },
      ],
    ],
    [
      'inline backticks are no fence',
      'Use `x` and ``y``.',
      [{ kind: 'markdown', text: 'Use `x` and ``y``.' }],
    ],
  ])('%s', (_, text, blocks) => {
    expect(splitFences(text)).toEqual(blocks);
  });
});

const kinds = (code: string, language: string) =>
  highlightCode(code, language)
    .filter((token) => token.kind)
    .map((token) => `${token.kind}:${token.text}`);

describe('highlightCode', () => {
  it.each([
    ['js', "const a = 'x'; // done", ['keyword:const', "string:'x'", 'comment:// done']],
    ['ts', 'return n1 + 0x1F * 2.5e3;', ['keyword:return', 'number:0x1F', 'number:2.5e3']],
    [
      'python',
      'def f():\n    return None  # no',
      ['keyword:def', 'keyword:return', 'literal:None', 'comment:# no'],
    ],
    [
      'sql',
      'SELECT name FROM t -- all\nWHERE x = 1',
      ['keyword:SELECT', 'keyword:FROM', 'comment:-- all', 'keyword:WHERE', 'number:1'],
    ],
    ['bash', 'echo "a \\" b" # c', ['keyword:echo', 'string:"a \\" b"', 'comment:# c']],
    [
      'rust',
      'let mut v = vec![1]; /* c */',
      ['keyword:let', 'keyword:mut', 'number:1', 'comment:/* c */'],
    ],
    ['js', 'const s = `multi\nline`', ['keyword:const', 'string:`multi\nline`']],
  ])('%s: %j', (language, code, expected) => {
    expect(kinds(code, language)).toEqual(expected);
  });

  it('keeps every character: the tokens concatenate to the code, markup included', () => {
    const code = "x = '<img src=x onerror=alert(1)>' /* unclosed\n\"also unclosed";
    for (const language of ['js', 'python', 'sql', 'bash', '', 'unknown'])
      expect(
        highlightCode(code, language)
          .map((token) => token.text)
          .join(''),
      ).toBe(code);
  });

  it('does not read identifiers with digits as numbers', () => {
    expect(kinds('value2 = x1', 'js')).toEqual([]);
  });
});
