import {
  type MessageView,
  presentMessage,
  presentThread,
  type ThreadView,
} from './chat-presenter.ts';
import type { MessageRow, ThreadRow } from './chat-store.ts';

/**
 * A thread with every branch, as JSON or Markdown (docs/chat.md "Import and export"): pure
 * functions over the thread's rows (chat-transfer-service.ts reads them).
 */
export const EXPORT_FORMAT = 'braincells.chat-thread';
export const EXPORT_VERSION = 1;

export interface ThreadExport {
  format: typeof EXPORT_FORMAT;
  version: typeof EXPORT_VERSION;
  exportedAt: string;
  thread: ThreadView;
  /** Every message of every branch, parents before children; `parentId` makes the tree. */
  messages: MessageView[];
}

/** `rows` ordered parents first (by depth, then id). */
export function exportJson(thread: ThreadRow, rows: MessageRow[], now: Date): ThreadExport {
  const children = childrenByParent(rows);
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exportedAt: now.toISOString(),
    thread: presentThread(thread),
    messages: rows.map((row) =>
      presentMessage(
        row,
        (children.get(row.parent_id) ?? [row]).map((sibling) => sibling.id),
      ),
    ),
  };
}

function childrenByParent(rows: MessageRow[]): Map<string | null, MessageRow[]> {
  const children = new Map<string | null, MessageRow[]>();
  for (const row of rows) {
    const list = children.get(row.parent_id) ?? [];
    list.push(row);
    children.set(row.parent_id, list);
  }
  for (const list of children.values()) list.sort((a, b) => (a.id < b.id ? -1 : 1));
  return children;
}

const heading = (row: MessageRow) =>
  row.role === 'user' ? 'User' : `Assistant${row.model ? ` (${row.model})` : ''}`;

/** One message: a heading, its status when not done, tool parts, then its text as written. */
function messageMarkdown(row: MessageRow, number: number): string {
  const lines = [`### ${number}. ${heading(row)}`, ''];
  if (row.status !== 'done') {
    const error = row.error as { code?: string; message?: string } | null;
    lines.push(
      `> ${row.status}${error?.code ? `: ${error.code}${error.message ? ` — ${error.message}` : ''}` : ''}`,
      '',
    );
  }
  const view = presentMessage(row);
  for (const part of view.parts) {
    // An image by reference: its hash names the bytes (GET …/attachments/<sha256>).
    if (part.type === 'image')
      lines.push(
        `> Image${part.name ? ` \`${part.name}\`` : ''}: ${part.mediaType}, ${part.width}×${part.height}, ${part.bytes} bytes, sha256 \`${part.sha256}\`${part.alt ? ` — ${part.alt}` : ''}`,
        '',
      );
    else if (part.type === 'tool-call')
      lines.push(`> Tool call \`${part.toolName}\`: \`${JSON.stringify(part.input)}\``, '');
    else
      lines.push(
        `> Tool result \`${part.toolName}\`${part.isError ? ' (failed)' : ''}: \`${JSON.stringify(part.output).slice(0, 500)}\``,
        '',
      );
  }
  lines.push(row.content, '');
  return lines.join('\n');
}

/**
 * The current branch first, as the conversation reads; then every other branch from the
 * message where it leaves one already written ("Branch 2 — after 3. Assistant"), so each
 * message appears once. Messages are numbered by their place in their branch.
 */
export function exportMarkdown(thread: ThreadRow, rows: MessageRow[], now: Date): string {
  const byId = new Map(rows.map((row) => [row.id, row]));
  const children = childrenByParent(rows);
  const written = new Set<string>();
  const pathTo = (leaf: MessageRow) => {
    const path: MessageRow[] = [];
    for (let row: MessageRow | undefined = leaf; row; row = byId.get(row.parent_id ?? '')) {
      path.unshift(row);
      if (row.parent_id === null) break;
    }
    return path;
  };
  const leaves = rows.filter((row) => !children.has(row.id));
  const current = thread.current_leaf_id ? byId.get(thread.current_leaf_id) : undefined;
  const ordered = current ? [current, ...leaves.filter((leaf) => leaf.id !== current.id)] : leaves;
  const out = [
    `# ${thread.title}`,
    '',
    `Exported from Brain Cells on ${now.toISOString()} · model ${thread.model} · ${rows.length} messages${leaves.length > 1 ? ` in ${leaves.length} branches` : ''}`,
    '',
  ];
  if (thread.instructions) out.push('## Instructions', '', thread.instructions, '');
  let branch = 0;
  for (const leaf of ordered) {
    const path = pathTo(leaf);
    const start = path.findIndex((row) => !written.has(row.id));
    if (start < 0) continue;
    branch += 1;
    if (branch === 1) out.push(current ? '## Current branch' : '## Conversation', '');
    else {
      const from = path[start - 1];
      out.push(
        `## Branch ${branch}${from ? ` — after ${start}. ${heading(from)}` : ' — from the start'}`,
        '',
      );
    }
    for (let index = start; index < path.length; index++) {
      const row = path[index]!;
      written.add(row.id);
      out.push(messageMarkdown(row, index + 1));
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}
