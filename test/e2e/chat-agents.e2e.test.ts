import { describe, expect, it } from 'vitest';
import { browserSuite, screenshot } from './e2e-harness.ts';

/**
 * Agents in the browser (issue #16 item 5): create an agent with a tool on its page, save a
 * second version, start a thread with it, and see the reply's tool call as a collapsible part.
 */
// A liveness bound (a hang fails naming the step), not a speed limit.
const LIVENESS = { timeout: 60_000 };

describe('chat agents', () => {
  const e2e = browserSuite({
    fakeLlm: { record: false },
    project: 'Agents',
    providerKey: 'sk-test-agents-e2e-key',
  });

  it('creates and versions an agent, and its reply shows the tool call', async () => {
    const { page } = e2e;
    await page.getByRole('link', { name: 'Agents' }).click();
    await page.getByRole('button', { name: 'New agent' }).click();
    const form = page.getByRole('form', { name: 'New agent' });
    await form.getByRole('textbox', { name: 'Name' }).fill('Data helper');
    await form.getByRole('textbox', { name: 'Instructions' }).fill('Answer from the data.');
    await form.getByRole('checkbox', { name: 'Query a sheet (read-only SQL)' }).check();
    const create = form.getByRole('button', { name: 'Create agent' });
    // The model picker preselects a chat model once the provider's list has loaded.
    await expect.poll(() => create.isEnabled(), LIVENESS).toBe(true);
    await create.click();
    const versions = page.getByTestId('agent-version');
    await expect.poll(() => versions.count(), LIVENESS).toBe(1);

    const edit = page.getByRole('form', { name: 'Edit Data helper' });
    await edit
      .getByRole('textbox', { name: 'Instructions' })
      .fill('Answer from the data, briefly.');
    await edit.getByRole('button', { name: 'Save new version' }).click();
    await expect.poll(() => versions.count(), LIVENESS).toBe(2);
    expect(await versions.first().textContent()).toContain('v2');
    await screenshot(page, 'chat-agents-01-versions');

    await page.getByRole('link', { name: 'Chat' }).click();
    const agentSelect = page.getByRole('combobox', { name: 'Agent' });
    await expect
      .poll(async () => (await agentSelect.locator('option').allTextContents()).join('|'), LIVENESS)
      .toContain('Data helper');
    await agentSelect.selectOption({
      label: (await agentSelect.locator('option').nth(1).textContent())!,
    });
    await page.getByRole('button', { name: 'New thread' }).click();
    await page.waitForURL(/thread=/);
    const composer = page.getByRole('textbox', { name: 'Message' });
    await composer.fill('How many rows are there? call:query_sheet');
    await composer.press('Enter');
    const reply = page.getByTestId('chat-message').nth(1);
    await expect.poll(() => reply.getAttribute('data-status'), LIVENESS).toBe('done');
    const toolCall = reply.getByTestId('tool-call');
    expect(await toolCall.count()).toBe(1);
    expect(await toolCall.locator('summary').textContent()).toContain('query_sheet');
    await toolCall.locator('summary').click();
    expect(await toolCall.locator('pre').count()).toBe(2);
    await screenshot(page, 'chat-agents-02-tool-call');
    expect(e2e.errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });

  it("sets the project's summarizer, and a reply a budget stops says which budget in the thread", async () => {
    const { page } = e2e;
    const threadUrl = page.url();
    await page.getByRole('link', { name: 'Agents' }).click();
    const summarizer = page.getByRole('form', { name: 'Project summarizer' });
    // The default is the reply's own model; unticked, the model picker (with prices) chooses one.
    const replyModel = summarizer.getByRole('checkbox', { name: "Use the reply's model" });
    await expect.poll(() => replyModel.isChecked(), LIVENESS).toBe(true);
    await replyModel.uncheck();
    const model = summarizer.getByLabel('Model', { exact: true });
    const option = model.locator('option', { hasText: /^gpt-4o-mini\b/ }).first();
    await option.waitFor({ state: 'attached', ...LIVENESS });
    await model.selectOption((await option.getAttribute('value'))!);
    await summarizer.getByRole('button', { name: 'Save summarizer' }).click();
    await page.getByText('Threads are summarized with gpt-4o-mini').waitFor(LIVENESS);
    await page.reload();
    await expect.poll(() => replyModel.isChecked(), LIVENESS).toBe(false);
    await expect.poll(() => model.inputValue(), LIVENESS).toMatch(/\|gpt-4o-mini$/);
    // Back to none: the reply's model stays choosable.
    await replyModel.check();
    await summarizer.getByRole('button', { name: 'Save summarizer' }).click();
    await page.getByText("Threads are summarized with the reply's model").waitFor(LIVENESS);
    await replyModel.uncheck();
    await model.selectOption((await option.getAttribute('value'))!);
    await summarizer.getByRole('button', { name: 'Save summarizer' }).click();
    await page.getByText('Threads are summarized with gpt-4o-mini').first().waitFor(LIVENESS);

    const budget = await e2e.send('POST', `/api/projects/${e2e.projectId}/llm/budgets`, {
      period: 'day',
      hardLimitNano: 1,
    });
    expect(budget.status(), await budget.text()).toBe(201);
    await page.goto(threadUrl);
    const composer = page.getByRole('textbox', { name: 'Message' });
    await composer.fill('One more question');
    await composer.press('Enter');
    const reply = page.getByTestId('chat-message').nth(3);
    await expect.poll(() => reply.getAttribute('data-status'), LIVENESS).toBe('error');
    expect(await reply.getByTestId('reply-error').textContent()).toMatch(
      /^Budget reached: The project's daily LLM budget of \$0\.000000 \(\$[0-9.]+ spent\) would be exceeded by this reply, so nothing was sent to the model\./,
    );
    await screenshot(page, 'chat-agents-03-budget');
  });
});
