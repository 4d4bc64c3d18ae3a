import { describe, expect, it } from 'vitest';
import { findLeaks } from './leak-scan.ts';

describe('log leak scan', () => {
  const secrets = [
    { kind: 'password' as const, value: 'correct horse battery "staple"' },
    { kind: 'session-id' as const, value: 'Q2hhbmdlIG1lIHBsZWFzZSwgdGhpcyBpcyBhIHRva2Vu' },
  ];

  it('finds a registered secret, also JSON-escaped, and reports only a hint', () => {
    const leaks = findLeaks(
      [
        {
          name: 'a',
          text: '{"msg":"ok"}\n{"body":{"password":"correct horse battery \\"staple\\""}}\n',
        },
        { name: 'b', text: '{"cookie":"bc_session=Q2hhbmdlIG1lIHBsZWFzZSwgdGhpcyBpcyBhIHRva2Vu"}' },
        { name: 'c', text: '{"msg":"[redacted]"}' },
      ],
      secrets,
    );
    expect(leaks.map((leak) => [leak.file, leak.kind, leak.line])).toEqual([
      ['a', 'password', 2],
      ['b', 'session-id', 1],
    ]);
    expect(JSON.stringify(leaks)).not.toContain('battery');
  });

  it('finds key-shaped strings that nobody registered', () => {
    const key = `bc_${'A'.repeat(43)}`;
    const leaks = findLeaks(
      [
        { name: 'x', text: `{"authorization":"Bearer ${key}"}` },
        { name: 'y', text: '{"apiKey":"sk-proj-abcdefghijklmnopqrstuvwxyz0123"}' },
        { name: 'z', text: '{"prefix":"bc_abcdef","note":"sk-test"}' },
      ],
      [],
    );
    expect(leaks.map((leak) => [leak.file, leak.kind])).toEqual([
      ['x', 'api-key'],
      ['y', 'provider-key'],
    ]);
  });
});
