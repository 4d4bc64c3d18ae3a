import { renderMarkdown, type SanitizedHtml, splitThinking } from './markdown.ts';

/**
 * The app's only use of innerHTML, and it accepts only sanitizer output (the SanitizedHtml
 * brand cannot be made from a plain string without a cast).
 */
export function SafeHtml({ html, className }: { html: SanitizedHtml; className?: string }) {
  // biome-ignore lint/security/noDangerouslySetInnerHtml: input is DOMPurify output (ui/markdown.ts)
  return <div className={className} dangerouslySetInnerHTML={{ __html: html }} />;
}

/** A model's `<think>` reasoning: plain text behind a closed toggle. */
export function Thinking({ text }: { text: string }) {
  return (
    <details className="thinking">
      <summary>Reasoning</summary>
      <p className="thinking-text">{text}</p>
    </details>
  );
}

/** Markdown through the sanitizer; `<think>` reasoning as text behind a closed toggle. */
export function Markdown({ text, className }: { text: string; className?: string }) {
  const { thinking, answer } = splitThinking(text);
  const html = (
    <SafeHtml
      html={renderMarkdown(answer)}
      className={className ? `markdown ${className}` : 'markdown'}
    />
  );
  if (thinking === undefined) return html;
  return (
    <>
      <Thinking text={thinking} />
      {html}
    </>
  );
}
