import { describe, expect, it } from 'vitest';
import { jsonTextTooDeep, jsonValueDepth } from './json-body.ts';

describe('JSON nesting bounds', () => {
  it.each([
    ['1', 0],
    ['[]', 1],
    ['{"a":[1,{"b":2}]}', 3],
    ['"[[[[[[["', 0],
    ['["\\"[[[["]', 1],
    ['[[],[],[[]]]', 3],
  ])('measures %s as %i deep from its text and its value', (text, depth) => {
    expect(jsonTextTooDeep(text, depth)).toBe(false);
    expect(jsonTextTooDeep(text, depth - 1)).toBe(depth > 0);
    expect(jsonValueDepth(JSON.parse(text), 10)).toBe(depth);
  });

  it('stops at the bound without recursion, however deep the value', () => {
    let value: unknown = 1;
    for (let level = 0; level < 200_000; level++) value = [value];
    expect(jsonValueDepth(value, 32)).toBe(33);
    expect(jsonTextTooDeep('['.repeat(200_000), 64)).toBe(true);
  });
});
