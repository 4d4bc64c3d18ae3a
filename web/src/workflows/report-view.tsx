import { useNavigate } from '@tanstack/react-router';
import type { MouseEvent } from 'react';
import { SafeHtml } from '../ui/safe-html.tsx';
import { renderReport } from './report-markdown.ts';

/** A report step's output (docs/workflows.md: `{ title, markdown }`), or undefined. */
export function reportOf(output: unknown): { title: string; markdown: string } | undefined {
  if (typeof output !== 'object' || output === null) return undefined;
  const { title, markdown } = output as { title?: unknown; markdown?: unknown };
  return typeof markdown === 'string'
    ? { title: typeof title === 'string' ? title : 'Report', markdown }
    : undefined;
}

/**
 * A findings report: its Markdown rendered with raw HTML shown as text and citations as links
 * (report-markdown.ts). A citation opens in this tab through the router (the documents viewer
 * at the cited page, or the cited row's dataset); a modified click keeps the browser's way.
 */
export function ReportView({
  projectId,
  title,
  markdown,
}: {
  projectId: string;
  title: string;
  markdown: string;
}) {
  const navigate = useNavigate();
  const follow = (event: MouseEvent<HTMLElement>) => {
    const link = (event.target as Element).closest?.('a.citation');
    if (!(link instanceof HTMLAnchorElement)) return;
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey)
      return;
    const url = new URL(link.href);
    if (url.origin !== window.location.origin) return;
    event.preventDefault();
    void navigate({ href: url.pathname + url.search });
  };
  const download = () => {
    const url = URL.createObjectURL(new Blob([markdown], { type: 'text/markdown' }));
    const anchor = document.createElement('a');
    anchor.href = url;
    anchor.download = `${title.replace(/[^\w.-]+/g, '_').slice(0, 80) || 'report'}.md`;
    anchor.click();
    setTimeout(() => URL.revokeObjectURL(url), 0);
  };
  return (
    <article className="stack" aria-label={`Report: ${title}`}>
      <header className="row">
        <h2>{title}</h2>
        <span className="spacer" />
        <button type="button" onClick={download}>
          Download Markdown
        </button>
      </header>
      {/* biome-ignore lint/a11y/useKeyWithClickEvents lint/a11y/noStaticElementInteractions: only forwards clicks on its links, which keep their own keyboard behaviour */}
      <div onClick={follow}>
        <SafeHtml className="markdown report" html={renderReport(markdown, projectId)} />
      </div>
    </article>
  );
}
