import { Fragment } from 'react';
import { Markdown } from '../ui/safe-html.tsx';
import { highlightCode, splitFences } from './chat-code.ts';

/**
 * A reply as Markdown: the prose through the sanitizer (ui/markdown.ts), fenced code blocks
 * highlighted as text spans by React (web/src/chat/chat-code.ts) — never HTML from the model.
 */
export function ChatMarkdown({ text, className }: { text: string; className?: string }) {
  const blocks = splitFences(text);
  return (
    <div className={className}>
      {blocks.map((block, index) =>
        block.kind === 'markdown' ? (
          // biome-ignore lint/suspicious/noArrayIndexKey: blocks of one text, in order
          <Markdown key={index} text={block.text} />
        ) : (
          // biome-ignore lint/suspicious/noArrayIndexKey: blocks of one text, in order
          <pre key={index} className="chat-code" data-language={block.language || undefined}>
            {block.language && <span className="chat-code-language">{block.language}</span>}
            <code>
              {highlightCode(block.code, block.language).map((token, position) =>
                token.kind ? (
                  // biome-ignore lint/suspicious/noArrayIndexKey: tokens of one block, in order
                  <span key={position} className={`tok-${token.kind}`}>
                    {token.text}
                  </span>
                ) : (
                  // biome-ignore lint/suspicious/noArrayIndexKey: tokens of one block, in order
                  <Fragment key={position}>{token.text}</Fragment>
                ),
              )}
            </code>
          </pre>
        ),
      )}
    </div>
  );
}
