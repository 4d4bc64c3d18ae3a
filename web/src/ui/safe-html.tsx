import { renderMarkdown, type SanitizedHtml } from './markdown.ts';

/**
 * The app's only use of innerHTML, and it accepts only sanitizer output (the SanitizedHtml
 * brand cannot be made from a plain string without a cast).
 */
export function SafeHtml({ html, className }: { html: SanitizedHtml; className?: string }) {
  // biome-ignore lint/security/noDangerouslySetInnerHtml: input is DOMPurify output (ui/markdown.ts)
  return <div className={className} dangerouslySetInnerHTML={{ __html: html }} />;
}

export function Markdown({ text, className }: { text: string; className?: string }) {
  return (
    <SafeHtml
      html={renderMarkdown(text)}
      className={className ? `markdown ${className}` : 'markdown'}
    />
  );
}
