/**
 * What every chat route repeats: its OpenAPI tag and summary beside its zod schemas.
 *
 *   app.post(url, chatRoute('Create an agent (editor)', { params, body, response }), handler)
 */
const tags = ['chat'];

export function chatRoute<const Parts extends object>(
  summary: string,
  parts: Parts,
): { schema: { tags: string[]; summary: string } & Parts } {
  return { schema: { tags, summary, ...parts } };
}
