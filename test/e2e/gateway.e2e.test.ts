import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeAnswer } from '../../tools/fake-llm/fake-llm-output.ts';
import { browserSuite, screenshot, system } from './e2e-harness.ts';

const PROVIDER_KEY = 'sk-test-e2e-gateway-provider-key';

/**
 * Issue #19: a project owner creates a gateway key in the web UI, an outside app calls a model
 * with it through the official `openai` client, the page shows the key used and its daily
 * budget spent, and a revoked key is refused.
 */
describe('gateway keys page', () => {
  const e2e = browserSuite({ fakeLlm: { apiKey: PROVIDER_KEY }, project: 'Gateway project' });

  beforeAll(async () => {
    await e2e.server.t.app.llm.admin.createProvider(system(), e2e.projectId, {
      name: 'Fake OpenAI',
      kind: 'openai',
      baseUrl: `${e2e.fake.url}/v1`,
      apiKey: PROVIDER_KEY,
    });
  });

  it('creates a key shown once, which an outside client uses until it is revoked', async () => {
    const { page } = e2e;
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}`);
    await page.getByRole('link', { name: 'Gateway' }).click();
    await page.getByRole('heading', { name: 'Gateway keys' }).waitFor();
    const form = page.getByRole('form', { name: 'New gateway key' });
    await form.getByLabel('Name').fill('notebook');
    await expect.poll(() => form.getByLabel('Provider').locator('option').count()).toBe(1);
    await form.getByLabel('Model').fill('gpt-4o-mini');
    await form.getByLabel('Alias (optional)').fill('fast');
    await form.getByLabel('Daily budget (USD)').fill('1');
    await form.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.getByTestId('gateway-secret').textContent()) ?? '';
    expect(secret).toMatch(/^bcgw_/);
    await screenshot(page, 'gateway-01-created');

    const client = new OpenAI({ baseURL: `${e2e.server.url}/v1`, apiKey: secret, maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'fast',
      messages: [{ role: 'user', content: 'Hello from a notebook' }],
    });
    expect(completion.choices[0]?.message.content).toBe(fakeAnswer('Hello from a notebook'));
    await e2e.server.t.app.llm.llm.flush();

    await page.reload();
    const row = page.locator('tbody tr', { hasText: 'notebook' });
    await expect.poll(() => row.locator('td').nth(2).textContent()).toBe('fast');
    await expect.poll(() => row.locator('td').nth(5).textContent()).not.toBe('never');
    expect(await row.locator('td').nth(4).textContent()).toMatch(/^\$0\.\d{6} of \$1\.00$/);
    // The secret is not on the page any more, and never in the list.
    expect(await page.content()).not.toContain(secret);

    await row.getByRole('button', { name: 'Revoke notebook' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => row.locator('td').nth(6).textContent()).toBe('revoked');
    const refused = await client.models.list().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(401);
    expect(e2e.errors.filter((error) => !error.includes('401'))).toEqual([]);
  });
});
