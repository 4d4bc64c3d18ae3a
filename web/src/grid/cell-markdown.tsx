import { ChatMarkdown } from '../chat/chat-markdown.tsx';
import { splitThinking } from '../ui/markdown.ts';
import { Thinking } from '../ui/safe-html.tsx';

/**
 * A text cell shown as Markdown: the model's `<think>` reasoning as text behind a closed toggle,
 * then the answer — prose through the sanitizer, fenced code highlighted as text spans by the
 * chat's lexer (chat/chat-code.ts). Reasoning is split off first, so a fence inside it stays
 * text and never becomes a code block.
 */
export function CellMarkdown({ text, className }: { text: string; className: string }) {
  const { thinking, answer } = splitThinking(text);
  return (
    <div className={className}>
      {thinking !== undefined && <Thinking text={thinking} />}
      <ChatMarkdown text={answer} />
    </div>
  );
}
