import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repositoryFiles, scanForSecrets } from '../scripts/scan-secrets.ts';

// The planted secrets are assembled at run time, so this file itself holds none.
const join = (...parts: string[]) => parts.join('');
const RANDOM = 'Qm7ZtR2vXk9LpW4sYh6NdF3jBc8GaE1uTo5VxKiPy0Hr';

const dir = mkdtempSync(path.join(tmpdir(), 'braincells-secret-scan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function plant(name: string, text: string): string {
  writeFileSync(path.join(dir, name), text);
  return name;
}

describe('the secret scan (npm run secrets)', () => {
  it.each([
    ['an OpenAI project key', join('const key = "sk-', 'proj-', RANDOM, '";\n')],
    ['an Anthropic key', join('ANTHROPIC_API_KEY=sk-', 'ant-api03-', RANDOM, RANDOM, '\n')],
    ['a Hugging Face token', join('token: hf_', RANDOM.slice(0, 34), '\n')],
    ['a Brain Cells API key', join('Authorization: Bearer bc_', RANDOM.slice(0, 43), '\n')],
    ['a BRAINCELLS_SECRET value', join('BRAINCELLS_SECRET=', RANDOM, '\n')],
    [
      'a database URL with a password',
      join('postgres://app:', 'Xq83nVz1pR@db.internal:5432/app\n'),
    ],
    [
      'a private key',
      generateKeyPairSync('rsa', {
        modulusLength: 1024,
        privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      }).privateKey,
    ],
  ])('fails on %s', (label, text) => {
    const file = plant(`${label.replaceAll(' ', '-')}.txt`, text);
    const result = scanForSecrets([file], { cwd: dir });
    expect(result.ok, result.output).toBe(false);
    expect(result.output).toContain(file);
  });

  it("passes the test factories' fake keys, allowed by pattern", () => {
    const file = plant(
      'fakes.ts',
      [
        "export const FAKE_KEY = 'sk-test-generation-fake-key-1a2b3c4d';",
        "const wrong = 'sk-routes-wrong-key-0000000000000000000000';",
        "const redacted = 'sk-live-supersecretvalue-123';",
        "const url = 'postgres://nobody:secret-pw@127.0.0.1:1/none';",
      ].join('\n'),
    );
    const result = scanForSecrets([file], { cwd: dir });
    expect(result.ok, result.output).toBe(true);
  });

  it('finds nothing in the repository, dotfiles included', () => {
    const files = repositoryFiles();
    expect(files).toContain('.ci/run');
    expect(files).toContain('test/secret-scan.test.ts');
    const result = scanForSecrets(files);
    expect(result.ok, result.output).toBe(true);
  });
});
