import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useParams, useSearch } from '@tanstack/react-router';
import { useVirtualizer } from '@tanstack/react-virtual';
import {
  type FormEvent,
  Fragment,
  type KeyboardEvent,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
} from 'react';
import { type ModelChoice, ModelPicker } from '../ai/model-picker.tsx';
import { openEventStream } from '../api/event-stream.ts';
import { FormError } from '../ui/form-error.tsx';
import { formatInteger, formatNanoUsd } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';
import { agentsApi } from './chat-agents-api.ts';
import {
  type ChatAttachment,
  type ChatMessage,
  type ChatPart,
  type ChatSearchMatch,
  type ChatSummary,
  chatApi,
  type ReplyError,
} from './chat-api.ts';
import { replyErrorText } from './chat-errors.ts';
import {
  AttachmentChips,
  AttachmentPicker,
  attachmentEvents,
  type ImageAttachments,
  MessageImages,
  ReasoningPart,
  useImageAttachments,
} from './chat-images.tsx';
import { ChatMarkdown } from './chat-markdown.tsx';
import {
  applyDelta,
  type Delta,
  pruneSettled,
  type StreamedTexts,
  shownText,
} from './chat-stream.ts';
import './chat.css';

/**
 * Chat (docs/chat.md): the project's threads beside the open thread. A reply streams from
 * the thread's event stream into an `aria-live` region; it is a server-side run, so reloading
 * the page mid-reply shows the text so far and the rest as it comes.
 */
export function ChatPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string };
  const search = useSearch({ strict: false }) as { thread?: string; q?: string };
  const navigate = useNavigate();
  // The open thread and the sidebar's search live in the URL (`?thread=…&q=…`).
  const go = (next: { thread?: string | undefined; q?: string | undefined }) =>
    void navigate({
      to: '/projects/$projectId/chat',
      params: { projectId },
      search: {
        ...(next.thread ? { thread: next.thread } : {}),
        ...(next.q ? { q: next.q } : {}),
      },
      replace: next.thread === search.thread,
    });
  const open = (threadId: string) => go({ thread: threadId, q: search.q });
  return (
    <section className="page chat-page">
      <ThreadList
        projectId={projectId}
        activeId={search.thread}
        query={search.q ?? ''}
        onQuery={(q) => go({ thread: search.thread, q })}
        onOpen={open}
      />
      {search.thread ? (
        <ThreadView
          key={search.thread}
          projectId={projectId}
          threadId={search.thread}
          onOpen={open}
          onClose={() => go({ q: search.q })}
        />
      ) : (
        <p className="muted chat-empty">Pick a thread or start a new one.</p>
      )}
    </section>
  );
}

function ThreadList({
  projectId,
  activeId,
  query,
  onQuery,
  onOpen,
}: {
  projectId: string;
  activeId: string | undefined;
  /** The search in the URL (`?q=`). */
  query: string;
  onQuery(query: string): void;
  onOpen(threadId: string): void;
}) {
  const queryClient = useQueryClient();
  const [choice, setChoice] = useState<ModelChoice>({ provider: undefined, model: '' });
  const [title, setTitle] = useState('');
  const [agentId, setAgentId] = useState('');
  const agents = useQuery({
    queryKey: ['chat', projectId, 'agents'],
    queryFn: () => agentsApi.list(projectId),
  });
  const notices = useNotices();
  const [searchText, setSearchText] = useState(query);
  const [agentFilter, setAgentFilter] = useState('');
  const [deleted, setDeleted] = useState(false);
  // Search as the user types, once typing pauses.
  // biome-ignore lint/correctness/useExhaustiveDependencies: only the typed text starts a search
  useEffect(() => {
    const next = searchText.trim();
    if (next === query) return;
    const timer = setTimeout(() => onQuery(next), 250);
    return () => clearTimeout(timer);
  }, [searchText]);
  const threads = useInfiniteQuery({
    queryKey: ['chat', projectId, 'threads', query, agentFilter, deleted],
    queryFn: ({ pageParam }) =>
      chatApi.threads(projectId, pageParam, { q: query, agentId: agentFilter, deleted }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const create = useMutation({
    mutationFn: () =>
      chatApi.createThread(projectId, {
        ...(title.trim() ? { title: title.trim() } : {}),
        // With an agent, its model answers.
        ...(agentId
          ? { agentId }
          : { model: choice.model, ...(choice.provider ? { provider: choice.provider } : {}) }),
      }),
    onSuccess: (thread) => {
      setTitle('');
      void queryClient.invalidateQueries({ queryKey: ['chat', projectId, 'threads'] });
      onOpen(thread.id);
    },
  });
  const restore = useMutation({
    mutationFn: (threadId: string) => chatApi.restoreThread(projectId, threadId),
    onSuccess: (thread) => {
      void queryClient.invalidateQueries({ queryKey: ['chat', projectId, 'threads'] });
      setDeleted(false);
      onOpen(thread.id);
    },
    onError: (error) => notices.error(error),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  const items = threads.data?.pages.flatMap((page) => page.items) ?? [];
  return (
    <aside className="chat-threads" aria-label="Threads">
      <form className="chat-new-thread" onSubmit={submit}>
        <label>
          Title
          <input
            value={title}
            maxLength={200}
            placeholder="New chat"
            onChange={(event) => setTitle(event.target.value)}
          />
        </label>
        <label>
          Agent
          <select value={agentId} onChange={(event) => setAgentId(event.target.value)}>
            <option value="">No agent (pick a model)</option>
            {(agents.data?.items ?? []).map((agent) => (
              <option key={agent.id} value={agent.id}>
                {agent.name} ({agent.model})
              </option>
            ))}
          </select>
        </label>
        {!agentId && <ModelPicker projectId={projectId} value={choice} onChange={setChoice} />}
        <button
          type="submit"
          className="button primary"
          disabled={(!agentId && !choice.model) || create.isPending}
        >
          New thread
        </button>
        <FormError error={create.error} />
      </form>
      <search className="chat-thread-search">
        <label>
          Search messages
          <input
            type="search"
            value={searchText}
            maxLength={500}
            placeholder='words, "a phrase", -word'
            onChange={(event) => setSearchText(event.target.value)}
          />
        </label>
        <label>
          {/* Not "Agent": the new-thread form's picker has that name. */}
          Threads of
          <select value={agentFilter} onChange={(event) => setAgentFilter(event.target.value)}>
            <option value="">Every agent and none</option>
            {(agents.data?.items ?? []).map((agent) => (
              <option key={agent.id} value={agent.id}>
                {agent.name}
              </option>
            ))}
          </select>
        </label>
      </search>
      <button
        type="button"
        className="link-button chat-deleted-toggle"
        aria-pressed={deleted}
        onClick={() => setDeleted(!deleted)}
      >
        {deleted ? '← Threads' : 'Recently deleted'}
      </button>
      <FormError error={threads.error} />
      {query && threads.isSuccess && items.length === 0 && (
        <p className="muted">No thread mentions that.</p>
      )}
      {deleted && threads.isSuccess && (
        <p className="muted">
          {items.length === 0
            ? 'No deleted threads.'
            : 'Deleted threads stay here until their purge date.'}
        </p>
      )}
      <ul className="chat-thread-list" aria-label={deleted ? 'Deleted threads' : 'Thread list'}>
        {items.map((thread) =>
          deleted ? (
            <li key={thread.id} className="chat-deleted-thread">
              <span>{thread.title}</span>
              <span className="muted">
                purged {thread.purgeAfter ? new Date(thread.purgeAfter).toLocaleDateString() : ''}
              </span>
              {thread.match && <Snippet match={thread.match} />}
              <button
                type="button"
                className="button"
                aria-label={`Restore ${thread.title}`}
                disabled={restore.isPending}
                onClick={() => restore.mutate(thread.id)}
              >
                Restore
              </button>
            </li>
          ) : (
            <li key={thread.id}>
              <button
                type="button"
                className="chat-thread-link"
                aria-current={thread.id === activeId ? 'page' : undefined}
                onClick={() => onOpen(thread.id)}
              >
                {thread.pinned ? '📌 ' : ''}
                {thread.title}
                {thread.match && <Snippet match={thread.match} />}
              </button>
            </li>
          ),
        )}
      </ul>
      {threads.hasNextPage && (
        <button type="button" className="button" onClick={() => void threads.fetchNextPage()}>
          More threads
        </button>
      )}
    </aside>
  );
}

/** A search hit's best message, matches marked (text pieces, never HTML). */
function Snippet({ match }: { match: ChatSearchMatch }) {
  return (
    <span className="chat-thread-snippet" data-testid="search-snippet">
      {match.snippet.map((piece, index) =>
        piece.highlight ? (
          // biome-ignore lint/suspicious/noArrayIndexKey: pieces never reorder
          <mark key={index}>{piece.text}</mark>
        ) : (
          // biome-ignore lint/suspicious/noArrayIndexKey: pieces never reorder
          <Fragment key={index}>{piece.text}</Fragment>
        ),
      )}
    </span>
  );
}

function ThreadView({
  projectId,
  threadId,
  onOpen,
  onClose,
}: {
  projectId: string;
  threadId: string;
  onOpen(threadId: string): void;
  onClose(): void;
}) {
  const queryClient = useQueryClient();
  const notices = useNotices();
  const threadKey = ['chat', projectId, 'thread', threadId];
  const messagesKey = ['chat', projectId, 'messages', threadId];
  const thread = useQuery({
    queryKey: threadKey,
    queryFn: () => chatApi.thread(projectId, threadId),
  });
  const messages = useQuery({
    queryKey: messagesKey,
    queryFn: () => chatApi.messages(projectId, threadId),
  });
  const summariesKey = ['chat', projectId, 'summaries', threadId];
  const summaries = useQuery({
    queryKey: summariesKey,
    queryFn: () => chatApi.summaries(projectId, threadId),
  });
  const [earlier, setEarlier] = useState<ChatMessage[]>([]);
  const [earlierCursor, setEarlierCursor] = useState<string | null | undefined>(undefined);
  const [texts, setTexts] = useState<StreamedTexts>(new Map());
  const loaded = messages.data?.items;
  const loadedRef = useRef<readonly ChatMessage[]>([]);
  loadedRef.current = loaded ?? [];

  useEffect(() => {
    if (loaded) setTexts((current) => pruneSettled(current, loaded));
  }, [loaded]);

  // The stream opens once, after the first page, from that page's event id: nothing published
  // since is missed; the browser resumes with Last-Event-ID on its own after a drop.
  const firstEventId = messages.data?.eventId;
  const streamOpen = firstEventId !== undefined;
  // biome-ignore lint/correctness/useExhaustiveDependencies: opened once per thread, from the first page's id
  useEffect(() => {
    if (firstEventId === undefined) return;
    const reload = () => {
      void queryClient.invalidateQueries({ queryKey: messagesKey });
      void queryClient.invalidateQueries({ queryKey: threadKey });
    };
    return openEventStream(chatApi.eventsUrl(projectId, threadId, firstEventId), {
      events: {
        'message-delta': (data) =>
          setTexts((current) => applyDelta(current, loadedRef.current, data as Delta)),
        'message-created': reload,
        'message-updated': reload,
        'thread-updated': reload,
        'summary-updated': () => void queryClient.invalidateQueries({ queryKey: summariesKey }),
        resync: reload,
        error: (data) => {
          const failure = data as { error?: ReplyError };
          if (failure.error?.message) notices.error(new Error(replyErrorText(failure.error).text));
        },
      },
    });
  }, [streamOpen, projectId, threadId]);

  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: messagesKey });
    void queryClient.invalidateQueries({ queryKey: threadKey });
    void queryClient.invalidateQueries({ queryKey: ['chat', projectId, 'threads'] });
  };
  const onError = (error: unknown) => notices.error(error);
  const images = useImageAttachments(projectId, threadId);
  const send = useMutation({
    mutationFn: (input: { content: string; attachments: ChatAttachment[] }) =>
      chatApi.send(projectId, threadId, input.content, input.attachments),
    onSuccess: () => {
      images.clear();
      refresh();
    },
    onError,
  });
  const stop = useMutation({
    mutationFn: (messageId: string) => chatApi.stop(projectId, threadId, messageId),
    onSuccess: refresh,
    onError,
  });
  const regenerate = useMutation({
    mutationFn: (messageId: string) => chatApi.regenerate(projectId, threadId, messageId),
    onSuccess: refresh,
    onError,
  });
  const edit = useMutation({
    mutationFn: (input: { message: ChatMessage; content: string }) =>
      chatApi.edit(projectId, threadId, input.message.id, input.content, input.message.version),
    onSuccess: refresh,
    onError,
  });
  const summarize = useMutation({
    mutationFn: () => chatApi.summarize(projectId, threadId),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: summariesKey }),
    onError,
  });
  const fork = useMutation({
    mutationFn: (messageId: string) => chatApi.fork(projectId, threadId, messageId),
    onSuccess: (forked) => {
      void queryClient.invalidateQueries({ queryKey: ['chat', projectId, 'threads'] });
      onOpen(forked.id);
    },
    onError,
  });
  const remove = useMutation({
    mutationFn: () => chatApi.deleteThread(projectId, threadId),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ['chat', projectId, 'threads'] });
      notices.info('Thread deleted; restore it from "Recently deleted".');
      onClose();
    },
    onError,
  });
  const selectBranch = useMutation({
    mutationFn: (messageId: string) => chatApi.selectBranch(projectId, threadId, messageId),
    onSuccess: refresh,
    onError,
  });

  const shown = useMemo(() => [...earlier, ...(loaded ?? [])], [earlier, loaded]);
  // A summary shows as a divider after the last message it covers, on the branch shown.
  const summaryAfter = useMemo(
    () =>
      new Map((summaries.data?.items ?? []).map((summary) => [summary.throughMessageId, summary])),
    [summaries.data],
  );
  const streaming = shown.find((message) => message.status === 'streaming');
  const hasEarlier =
    earlierCursor === undefined ? Boolean(messages.data?.previousCursor) : earlierCursor !== null;

  // Only the messages in view (and a few around them) are rendered: a 10,000-message thread
  // scrolls like a short one. Earlier pages load as the top comes into view.
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: shown.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 140,
    overscan: 6,
    getItemKey: (index) => shown[index]!.id,
  });
  const loadingEarlier = useRef(false);
  /** Items added above by the last page of earlier messages: the view stays on what it showed. */
  const prepended = useRef(0);
  const atBottom = useRef(true);
  const loadEarlier = async () => {
    const cursor = earlierCursor === undefined ? messages.data?.previousCursor : earlierCursor;
    if (!cursor || loadingEarlier.current) return;
    loadingEarlier.current = true;
    try {
      const page = await chatApi.messages(projectId, threadId, cursor);
      prepended.current = page.items.length;
      setEarlier((current) => [...page.items, ...current]);
      setEarlierCursor(page.previousCursor);
    } catch (error) {
      onError(error);
    } finally {
      loadingEarlier.current = false;
    }
  };
  const firstShown = virtualizer.getVirtualItems()[0]?.index ?? 0;
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when a page was prepended
  useLayoutEffect(() => {
    if (prepended.current === 0) return;
    virtualizer.scrollToIndex(prepended.current + firstShown, { align: 'start' });
    prepended.current = 0;
  }, [earlier.length]);
  const lastText = streaming ? shownText(streaming, texts).length : 0;
  // Opening a thread shows its end; new messages and streamed text keep it in view unless the
  // reader scrolled up.
  // biome-ignore lint/correctness/useExhaustiveDependencies: follows the end of the thread
  useEffect(() => {
    if (shown.length > 0 && atBottom.current && prepended.current === 0)
      virtualizer.scrollToIndex(shown.length - 1, { align: 'end' });
  }, [shown.length, lastText]);
  const onScroll = () => {
    const element = scrollRef.current;
    if (!element) return;
    atBottom.current = element.scrollHeight - element.scrollTop - element.clientHeight < 80;
    if (element.scrollTop < 400 && hasEarlier) void loadEarlier();
  };

  return (
    <div className="chat-thread">
      <header className="chat-thread-header">
        <h1>{thread.data?.title ?? 'Thread'}</h1>
        <button
          type="button"
          className="button"
          disabled={Boolean(streaming) || summarize.isPending}
          onClick={() => summarize.mutate()}
        >
          Summarize now
        </button>
        <button
          type="button"
          className="button"
          disabled={remove.isPending}
          onClick={() => remove.mutate()}
        >
          Delete thread
        </button>
        {thread.data && (
          <p className="muted" data-testid="thread-totals">
            {thread.data.model} · {formatInteger(thread.data.totals.inputTokens)} in ·{' '}
            {formatInteger(thread.data.totals.outputTokens)} out ·{' '}
            {formatNanoUsd(thread.data.totals.costNano)}
          </p>
        )}
      </header>
      <FormError error={messages.error ?? thread.error} />
      <div className="chat-messages" ref={scrollRef} onScroll={onScroll} data-testid="chat-scroll">
        {hasEarlier && (
          <button type="button" className="button" onClick={() => void loadEarlier()}>
            Earlier messages
          </button>
        )}
        <ol
          aria-label="Messages"
          data-loaded={shown.length}
          style={{ height: virtualizer.getTotalSize() }}
        >
          {virtualizer.getVirtualItems().map((item) => {
            const message = shown[item.index]!;
            const summary = summaryAfter.get(message.id);
            return (
              <li
                key={item.key}
                data-index={item.index}
                ref={virtualizer.measureElement}
                className="chat-row"
                style={{ transform: `translateY(${item.start}px)` }}
              >
                <MessageItem
                  projectId={projectId}
                  message={message}
                  text={shownText(message, texts)}
                  busy={Boolean(streaming)}
                  onEdit={(content) => edit.mutate({ message, content })}
                  onRegenerate={() => regenerate.mutate(message.id)}
                  onFork={() => fork.mutate(message.id)}
                  onSelect={(id) => selectBranch.mutate(id)}
                  onStop={() => stop.mutate(message.id)}
                />
                {summary && <SummaryDivider summary={summary} />}
              </li>
            );
          })}
        </ol>
      </div>
      <Composer
        disabled={Boolean(streaming) || send.isPending}
        streaming={Boolean(streaming)}
        images={images}
        onSend={(content) => send.mutate({ content, attachments: images.attachments })}
        onStop={() => streaming && stop.mutate(streaming.id)}
      />
    </div>
  );
}

function SummaryDivider({ summary }: { summary: ChatSummary }) {
  const [open, setOpen] = useState(false);
  const label =
    summary.status === 'pending'
      ? `Summarizing ${summary.coveredMessages} earlier messages…`
      : summary.status === 'error'
        ? `Summary failed: ${summary.error?.message ?? 'unknown error'}`
        : `${summary.coveredMessages} earlier messages summarized`;
  return (
    <div className="chat-summary" data-testid="summary-divider" data-status={summary.status}>
      <span>{label}</span>
      {summary.status === 'done' && (
        <>
          {' — '}
          <button
            type="button"
            className="link-button"
            aria-expanded={open}
            onClick={() => setOpen(!open)}
          >
            {open ? 'hide' : 'show'}
          </button>
          <span className="muted">
            {' '}
            ({formatInteger(summary.sourceTokens)} → {formatInteger(summary.summaryTokens)} tokens,{' '}
            {summary.model})
          </span>
          {open && <p className="chat-summary-text">{summary.content}</p>}
        </>
      )}
    </div>
  );
}

function MessageItem({
  projectId,
  message,
  text,
  busy,
  onEdit,
  onRegenerate,
  onFork,
  onSelect,
  onStop,
}: {
  projectId: string;
  message: ChatMessage;
  text: string;
  busy: boolean;
  onEdit(content: string): void;
  onRegenerate(): void;
  onFork(): void;
  onSelect(messageId: string): void;
  onStop(): void;
}) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.content);
  const index = message.siblingIds.indexOf(message.id);
  const count = message.siblingIds.length;
  const label = message.role === 'user' ? 'You' : 'Assistant';
  const save = (event: FormEvent) => {
    event.preventDefault();
    if (!draft.trim()) return;
    setEditing(false);
    onEdit(draft);
  };
  return (
    <article
      className={`chat-message chat-${message.role}`}
      data-testid="chat-message"
      data-status={message.status}
      aria-label={`${label} message`}
    >
      <div className="chat-message-head">
        <strong>{label}</strong>
        {count > 1 && (
          <nav className="chat-branches" aria-label="Branches">
            <button
              type="button"
              aria-label="Previous branch"
              disabled={index <= 0 || busy}
              onClick={() => onSelect(message.siblingIds[index - 1]!)}
            >
              ‹
            </button>
            <span data-testid="branch-position">
              {index + 1} / {count}
            </span>
            <button
              type="button"
              aria-label="Next branch"
              disabled={index >= count - 1 || busy}
              onClick={() => onSelect(message.siblingIds[index + 1]!)}
            >
              ›
            </button>
          </nav>
        )}
        {message.status !== 'done' && (
          <span className={`chat-status chat-status-${message.status}`}>{message.status}</span>
        )}
      </div>
      <ReasoningPart reasoning={message.reasoning} />
      {message.parts.some((part) => part.type === 'tool-call') && (
        <ToolParts parts={message.parts} />
      )}
      <MessageImages projectId={projectId} threadId={message.threadId} parts={message.parts} />
      {editing ? (
        <form className="chat-edit" onSubmit={save}>
          <label>
            Edit message
            <textarea value={draft} onChange={(event) => setDraft(event.target.value)} rows={3} />
          </label>
          <button type="submit" className="button primary">
            {message.role === 'user' ? 'Save and answer' : 'Save'}
          </button>
          <button type="button" className="button" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : message.status === 'streaming' ? (
        // Streamed text is announced as it arrives (polite: it never interrupts).
        <div className="chat-text" aria-live="polite" aria-busy="true" data-testid="streaming-text">
          {text}
        </div>
      ) : message.role === 'assistant' ? (
        <ChatMarkdown text={text} className="chat-text" />
      ) : (
        <div className="chat-text">{text}</div>
      )}
      {message.error && (
        <p className="chat-error" role="alert" data-testid="reply-error">
          <strong>{replyErrorText(message.error).title}:</strong>{' '}
          {replyErrorText(message.error).text}
        </p>
      )}
      {message.role === 'assistant' && message.status !== 'streaming' && (
        <p className="chat-meta muted" data-testid="message-meta">
          {message.model ?? '—'} · {formatInteger(message.usage.outputTokens)} tokens out ·{' '}
          {formatNanoUsd(message.costNano)}
          {message.latencyMs !== null ? ` · ${(message.latencyMs / 1000).toFixed(1)} s` : ''}
        </p>
      )}
      {!editing && (
        <div className="chat-actions">
          {message.status === 'streaming' ? (
            <button type="button" className="button" onClick={onStop}>
              Stop
            </button>
          ) : (
            <>
              <button
                type="button"
                className="button"
                disabled={busy}
                onClick={() => {
                  setDraft(message.content);
                  setEditing(true);
                }}
              >
                Edit
              </button>
              {message.role === 'assistant' && (
                <button type="button" className="button" disabled={busy} onClick={onRegenerate}>
                  Regenerate
                </button>
              )}
              <button type="button" className="button" onClick={onFork}>
                Fork
              </button>
            </>
          )}
        </div>
      )}
    </article>
  );
}

/** Each tool call with its result, collapsed: name, duration and error state in the summary. */
function ToolParts({ parts }: { parts: ChatPart[] }) {
  const results = new Map(
    parts.flatMap((part) => (part.type === 'tool-result' ? [[part.toolCallId, part]] : [])),
  );
  return (
    <ul className="chat-tool-parts" aria-label="Tool calls">
      {parts.map((part) => {
        if (part.type !== 'tool-call') return null;
        const result = results.get(part.toolCallId);
        return (
          <li key={part.toolCallId} data-testid="tool-call">
            <details>
              <summary>
                {part.toolName}
                {result
                  ? ` · ${result.durationMs} ms${result.isError ? ' · failed' : ''}`
                  : ' · running…'}
              </summary>
              <pre className="chat-tool-json">{JSON.stringify(part.input, null, 2)}</pre>
              {result && (
                <pre className="chat-tool-json" data-error={result.isError || undefined}>
                  {JSON.stringify(result.output, null, 2)}
                </pre>
              )}
            </details>
          </li>
        );
      })}
    </ul>
  );
}

function Composer({
  disabled,
  streaming,
  images,
  onSend,
  onStop,
}: {
  disabled: boolean;
  streaming: boolean;
  images: ImageAttachments;
  onSend(content: string): void;
  onStop(): void;
}) {
  const [draft, setDraft] = useState('');
  // Text, or images alone; never while an image is uploading or was refused (its chip says why).
  const sendable = (draft.trim().length > 0 || images.attachments.length > 0) && images.ready;
  const submit = () => {
    if (disabled || !sendable) return;
    onSend(draft);
    setDraft('');
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    // Enter sends, Shift+Enter breaks the line, Esc stops a streaming reply.
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === 'Escape' && streaming) {
      event.preventDefault();
      onStop();
    }
  };
  return (
    <form
      className="chat-composer"
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
      {...attachmentEvents(images)}
    >
      <AttachmentChips images={images} />
      <AttachmentPicker images={images} disabled={disabled} />
      <label className="visually-hidden" htmlFor="chat-composer-input">
        Message
      </label>
      <textarea
        id="chat-composer-input"
        value={draft}
        rows={3}
        maxLength={100_000}
        placeholder="Write a message (Enter sends, Shift+Enter breaks the line)"
        onChange={(event) => setDraft(event.target.value)}
        onKeyDown={onKeyDown}
      />
      {streaming ? (
        <button type="button" className="button" onClick={onStop}>
          Stop
        </button>
      ) : (
        <button type="submit" className="button primary" disabled={disabled || !sendable}>
          Send
        </button>
      )}
    </form>
  );
}
